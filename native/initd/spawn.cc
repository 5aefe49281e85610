#include "initd/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/protocol.h"

namespace initd {
namespace {

enum Stage : int { kSetup = 1, kLimits, kIdentity, kChdir, kExec };

// Written by a child that fails before exec. The child shares our memory
// (vfork) and we stay suspended until it execs or exits, so no pipe is needed.
struct ChildReport {
  int stage;
  int err;
};

[[noreturn]] void fail(volatile ChildReport* report, Stage stage) {
  report->err = errno;
  report->stage = stage;
  _exit(127);
}

const char* find_env(const std::vector<const char*>& envp, const char* key) {
  size_t n = std::strlen(key);
  for (const char* e : envp)
    if (e && std::strncmp(e, key, n) == 0 && e[n] == '=') return e + n + 1;
  return nullptr;
}

// Like execvpe, but searching the PATH of the new environment, not ours.
void exec_search(const char* file, char* const argv[], const std::vector<const char*>& envp) {
  char* const* env = const_cast<char* const*>(envp.data());
  if (std::strchr(file, '/')) {
    execve(file, argv, env);
    return;
  }
  const char* path = find_env(envp, "PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t flen = std::strlen(file);
  int saved = ENOENT;
  char buf[4096];
  for (const char* p = path;; p++) {
    const char* end = std::strchr(p, ':');
    size_t dlen = end ? static_cast<size_t>(end - p) : std::strlen(p);
    if (dlen + flen + 2 <= sizeof buf) {
      if (dlen == 0) buf[0] = '.', dlen = 1;
      else std::memcpy(buf, p, dlen);
      buf[dlen] = '/';
      std::memcpy(buf + dlen + 1, file, flen + 1);
      execve(buf, argv, env);
      if (errno == EACCES) saved = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) return;
    }
    if (!end) break;
    p = end;
  }
  errno = saved;
}

// Runs in the vforked child until exec: only system calls and reads of
// memory prepared before vfork; never returns.
[[noreturn]] void child(const SpawnPlan& plan, char* const argv[], const std::vector<const char*>& envp,
                        volatile ChildReport* report) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  signal(SIGPIPE, SIG_DFL);  // the only disposition init-d changes (see Loop::start)

  if (setsid() < 0) fail(report, kSetup);
  if (plan.tty && ioctl(plan.stdio[0], TIOCSCTTY, 0) < 0) fail(report, kSetup);
  for (int i = 0; i < 3; i++)
    if (dup2(plan.stdio[i], i) < 0) fail(report, kSetup);

  for (const auto& r : plan.rlimits) {
    rlimit lim{r.value, r.value};
    if (setrlimit(r.resource, &lim) < 0) fail(report, kLimits);
  }

  if (geteuid() == 0) {
    if (setgroups(plan.user.groups.size(), plan.user.groups.data()) < 0) fail(report, kIdentity);
    if (setgid(plan.user.gid) < 0 || setuid(plan.user.uid) < 0) fail(report, kIdentity);
  } else if (plan.user.uid != geteuid()) {
    errno = EPERM;
    fail(report, kIdentity);
  }

  if (!plan.dir.empty() && chdir(plan.dir.c_str()) < 0) fail(report, kChdir);
  exec_search(plan.path.c_str(), argv, envp);
  fail(report, kExec);
}

}  // namespace

std::vector<std::string> default_env(const std::vector<std::string>& env, const User& user) {
  auto has = [&](const char* key) {
    size_t n = std::strlen(key);
    for (const auto& e : env)
      if (e.compare(0, n, key) == 0 && e.size() > n && e[n] == '=') return true;
    return false;
  };
  std::vector<std::string> out;
  out.reserve(env.size() + 3);
  if (!has("PATH"))
    out.push_back(user.uid == 0 ? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                : "PATH=/usr/local/bin:/usr/bin:/bin");
  if (!has("HOME")) out.push_back("HOME=" + user.home);
  if (!has("USER") && !user.name.empty()) out.push_back("USER=" + user.name);
  out.insert(out.end(), env.begin(), env.end());
  return out;
}

pid_t spawn_process(const SpawnPlan& plan, SpawnError& error) {
  std::vector<char*> argv;
  argv.reserve(plan.argv.size() + 1);
  for (const auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<const char*> envp;
  envp.reserve(plan.env.size() + 1);
  for (const auto& e : plan.env) envp.push_back(e.c_str());
  envp.push_back(nullptr);

  volatile ChildReport report{0, 0};
  // vfork: no page tables to copy, and the parent waits only until exec.
  pid_t pid = vfork();
  if (pid < 0) {
    error = {err::kSpawnFailed, std::string("vfork: ") + std::strerror(errno)};
    return -1;
  }
  if (pid == 0) child(plan, argv.data(), envp, &report);
  if (report.stage == 0) return pid;
  ChildReport r{report.stage, report.err};

  // The child failed before exec and has exited with 127; the reaper collects it.
  const char* what = std::strerror(r.err);
  switch (r.stage) {
    case kExec:
      if (r.err == ENOENT || r.err == ENOTDIR)
        error = {err::kExecNotFound, "exec: \"" + plan.path + "\": executable file not found in $PATH"};
      else
        error = {err::kSpawnFailed, "exec " + plan.path + ": " + what};
      break;
    case kChdir:
      error = {r.err == ENOENT || r.err == ENOTDIR ? err::kDirNotFound : err::kSpawnFailed,
               "chdir " + plan.dir + ": " + what};
      break;
    case kIdentity: error = {err::kSpawnFailed, std::string("switching user: ") + what}; break;
    case kLimits: error = {err::kSpawnFailed, std::string("setting rlimits: ") + what}; break;
    default: error = {err::kSpawnFailed, std::string("setting up stdio: ") + what}; break;
  }
  return -1;
}

}  // namespace initd
