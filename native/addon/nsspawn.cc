// Namespace-entry spawn: run a program inside the namespaces of a running
// PID, for containers that have no init-d.
//
//   node ──fork──> helper ──setns×N, chroot──fork──> process ──execve
//                    │                                  (inside the PID ns)
//                    └─ waitpid(process), exits with its code (128+N on signal N)
//
// Everything is prepared before the first fork (argv/envp, PATH candidates,
// namespace and root fds); after it only async-signal-safe syscalls run.
// Setup and exec failures travel back on a CLOEXEC pipe as {stage, errno}, so
// nsSpawn throws ENOENT & co. Like uv_spawn, nsSpawn blocks until the process
// has exec'ed (or failed). The helper's exit is awaited with a pidfd polled by
// libuv (a timer on kernels without pidfd_open), so libuv's own child reaping
// is untouched.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "addon/common.h"

namespace garden {

namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Namespaces other than user, in the order they are entered (as nsenter).
constexpr const char* kNamespaces[] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
constexpr int kNumNamespaces = sizeof(kNamespaces) / sizeof(kNamespaces[0]);
constexpr int kUserIndex = kNumNamespaces;  // "detail" value for the user ns

enum Stage : int32_t {
  kSetns = 1,
  kFchdir,
  kChroot,
  kFork,
  kCgroup,
  kSetsid,
  kSctty,
  kDup,
  kSetgroups,
  kSetgid,
  kSetuid,
  kChdir,
  kExecve,
};

const char* StageSyscall(int32_t stage) {
  switch (stage) {
    case kSetns: return "setns";
    case kFchdir: return "fchdir";
    case kChroot: return "chroot";
    case kFork: return "fork";
    case kCgroup: return "write";
    case kSetsid: return "setsid";
    case kSctty: return "ioctl";
    case kDup: return "dup2";
    case kSetgroups: return "setgroups";
    case kSetgid: return "setgid";
    case kSetuid: return "setuid";
    case kChdir: return "chdir";
    case kExecve: return "execve";
    default: return "nsspawn";
  }
}

enum Kind : int32_t { kReportPid = 1, kReportError = 2 };

struct Report {
  int32_t kind;
  int32_t stage;
  int32_t err;
  int32_t value;  // pid, or a detail (namespace index)
};

// Everything the children need, built before fork.
struct Spawn {
  int pid = 0;
  std::string path;
  std::vector<std::string> arg_strings, env_strings, candidates;
  std::vector<char*> argv, envp;
  std::vector<const char*> candidate_ptrs;
  int ns_fds[kNumNamespaces];
  int user_fd = -1;
  int root_fd = -1;
  bool has_cwd = false;
  std::string cwd;
  bool has_uid = false, has_gid = false, has_groups = false;
  uint32_t uid = 0, gid = 0;
  std::vector<gid_t> groups;
  int stdio[3] = {-1, -1, -1};
  bool tty = false;
  std::vector<int> cgroup_fds;
  int fd_limit = 1024;

  Spawn() {
    for (int& fd : ns_fds) fd = -1;
  }
  ~Spawn() {
    for (int fd : ns_fds) CloseQuietly(fd);
    CloseQuietly(user_fd);
    CloseQuietly(root_fd);
  }
  Spawn(const Spawn&) = delete;
  Spawn& operator=(const Spawn&) = delete;
};

// ---- in the children: async-signal-safe only -------------------------------

void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void Fail(int report_fd, int32_t stage, int err, int32_t detail) {
  Report r = {kReportError, stage, err, detail};
  WriteAll(report_fd, &r, sizeof r);
  _exit(127);
}

// The process: new session, stdio, credentials, cwd, exec.
[[noreturn]] void Process(const Spawn& s, int report_fd) {
  for (int fd : s.cgroup_fds)
    if (write(fd, "0", 1) < 0) Fail(report_fd, kCgroup, errno, 0);
  if (setsid() < 0) Fail(report_fd, kSetsid, errno, 0);
  if (s.tty && ioctl(s.stdio[0], TIOCSCTTY, 0) < 0)
    Fail(report_fd, kSctty, errno, 0);
  int tmp[3];
  for (int i = 0; i < 3; i++) {
    tmp[i] = fcntl(s.stdio[i], F_DUPFD_CLOEXEC, 3);
    if (tmp[i] < 0) Fail(report_fd, kDup, errno, i);
  }
  for (int i = 0; i < 3; i++)
    if (dup2(tmp[i], i) < 0) Fail(report_fd, kDup, errno, i);
  // Nothing but 0, 1, 2 survives the exec (the report pipe is CLOEXEC too).
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3; fd < s.fd_limit; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (s.has_groups &&
      syscall(SYS_setgroups, s.groups.size(), s.groups.data()) < 0)
    Fail(report_fd, kSetgroups, errno, 0);
  if (s.has_gid && syscall(SYS_setgid, s.gid) < 0)
    Fail(report_fd, kSetgid, errno, 0);
  if (s.has_uid && syscall(SYS_setuid, s.uid) < 0)
    Fail(report_fd, kSetuid, errno, 0);
  if (s.has_cwd && chdir(s.cwd.c_str()) < 0) Fail(report_fd, kChdir, errno, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  // execvpe's rules: skip entries that do not have it, remember EACCES.
  bool eacces = false;
  int err = ENOENT;
  for (const char* c : s.candidate_ptrs) {
    execve(c, s.argv.data(), s.envp.data());
    err = errno;
    switch (err) {
      case EACCES:
        eacces = true;
        continue;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        continue;
      default:
        Fail(report_fd, kExecve, err, 0);
    }
  }
  Fail(report_fd, kExecve, eacces ? EACCES : err, 0);
}

void EnterRoot(const Spawn& s, int report_fd) {
  if (s.root_fd < 0) return;
  if (fchdir(s.root_fd) < 0) Fail(report_fd, kFchdir, errno, 0);
  if (chroot(".") < 0) Fail(report_fd, kChroot, errno, 0);
}

// The helper: enter the namespaces and the root, fork the process into the
// PID namespace, report its pid, then wait for it and exit with its code.
[[noreturn]] void Helper(const Spawn& s, int report_fd) {
  // Node's signal handlers must never run here; all signals are blocked
  // since before fork.
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }
  // Out of node's session and process group: terminal signals meant for
  // node do not reach us.
  setsid();
  prctl(PR_SET_NAME, "garden-nsspawn", 0, 0, 0);

  // Non-user namespaces first while we are privileged; those refused with
  // EPERM are retried after entering the user namespace (rootless case).
  bool deferred[kNumNamespaces] = {};
  bool any_deferred = false;
  for (int i = 0; i < kNumNamespaces; i++) {
    if (s.ns_fds[i] < 0) continue;
    if (setns(s.ns_fds[i], 0) == 0) continue;
    if (errno == EPERM && s.user_fd >= 0) {
      deferred[i] = any_deferred = true;
      continue;
    }
    Fail(report_fd, kSetns, errno, i);
  }
  if (!any_deferred) EnterRoot(s, report_fd);
  if (s.user_fd >= 0 && setns(s.user_fd, CLONE_NEWUSER) < 0)
    Fail(report_fd, kSetns, errno, kUserIndex);
  if (any_deferred) {
    for (int i = 0; i < kNumNamespaces; i++)
      if (deferred[i] && setns(s.ns_fds[i], 0) < 0)
        Fail(report_fd, kSetns, errno, i);
    EnterRoot(s, report_fd);
  }

  pid_t child = fork();
  if (child < 0) Fail(report_fd, kFork, errno, 0);
  if (child == 0) Process(s, report_fd);

  Report r = {kReportPid, 0, 0, static_cast<int32_t>(child)};
  WriteAll(report_fd, &r, sizeof r);
  // We live as long as the process: keep no fd of node's open.
  if (syscall(SYS_close_range, 0u, ~0u, 0u) < 0) {
    for (int fd = 0; fd < s.fd_limit; fd++) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(child, &status, 0);
    if (w == child) break;
    if (w < 0 && errno != EINTR) _exit(127);
  }
  if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
  _exit(WEXITSTATUS(status));
}

// ---- in node -----------------------------------------------------------------

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfds are CLOEXEC already
  return fd;
#else
  errno = ENOSYS;
  return -1;
#endif
}

int ExitCode(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// Resolves `wait` when the helper exits. Polls a pidfd, or falls back to a
// 20 ms timer with waitpid(WNOHANG).
class ChildWaiter : public Closable {
 public:
  ChildWaiter(State* st, pid_t pid, napi_deferred d)
      : st_(st), pid_(pid), deferred_(d) {
    poll_.data = this;
    timer_.data = this;
  }

  // Returns a uv error code.
  int Start() {
    pidfd_ = PidfdOpen(pid_);
    if (pidfd_ >= 0) {
      int r = uv_poll_init(st_->loop, &poll_, pidfd_);
      if (r == 0) {
        handle_ = reinterpret_cast<uv_handle_t*>(&poll_);
        return uv_poll_start(&poll_, UV_READABLE, OnPoll);
      }
      CloseQuietly(pidfd_);
      pidfd_ = -1;
    }
    uv_timer_init(st_->loop, &timer_);
    handle_ = reinterpret_cast<uv_handle_t*>(&timer_);
    return uv_timer_start(&timer_, OnTimer, 20, 20);
  }

  void Teardown() override {
    // The environment is going away: stop waiting; the helper stays a zombie
    // until this process exits.
    Close();
  }

  void Close() {
    if (closing_) return;
    closing_ = true;
    if (handle_ == nullptr) {
      st_->Release(this);
      return;
    }
    uv_close(handle_, OnClose);  // stops polling the pidfd at once
    CloseQuietly(pidfd_);
    pidfd_ = -1;
  }

  ~ChildWaiter() override { CloseQuietly(pidfd_); }

 private:

  static void OnPoll(uv_poll_t* h, int status, int events) {
    static_cast<ChildWaiter*>(h->data)->Check();
  }
  static void OnTimer(uv_timer_t* h) {
    static_cast<ChildWaiter*>(h->data)->Check();
  }
  static void OnClose(uv_handle_t* h) {
    ChildWaiter* w = static_cast<ChildWaiter*>(h->data);
    w->st_->Release(w);
  }

  void Check() {
    if (closing_) return;
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return;  // not yet
    int err = r < 0 ? errno : 0;
    {
      JsScope scope(st_);
      Close();
      if (err == 0)
        napi_resolve_deferred(st_->env, deferred_,
                              Napi::Number::New(st_->env, ExitCode(status)));
      else
        napi_reject_deferred(st_->env, deferred_,
                             ErrnoError(Napi::Env(st_->env), err, "waitpid").Value());
    }
  }

  State* st_;
  pid_t pid_;
  napi_deferred deferred_;
  int pidfd_ = -1;
  uv_poll_t poll_;
  uv_timer_t timer_;
  uv_handle_t* handle_ = nullptr;
  bool closing_ = false;
};

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Opens what the helper needs from /proc/PID. Throws and returns false on
// failure.
bool OpenTarget(Napi::Env env, Spawn* s) {
  std::string proc = "/proc/" + std::to_string(s->pid);
  int dir = open(proc.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    int err = errno == ENOENT ? ESRCH : errno;
    ThrowErrno(env, err, "open", &proc);
    return false;
  }
  bool mnt_changed = false;
  for (int i = 0; i <= kNumNamespaces; i++) {
    const char* name = i == kUserIndex ? "user" : kNamespaces[i];
    std::string rel = std::string("ns/") + name;
    int fd = openat(dir, rel.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // namespace type not in this kernel
      int err = errno;
      std::string path = proc + "/" + rel;
      CloseQuietly(dir);
      ThrowErrno(env, err, "open", &path);
      return false;
    }
    struct stat theirs, ours;
    std::string self = std::string("/proc/thread-self/ns/") + name;
    if (fstat(fd, &theirs) == 0 && stat(self.c_str(), &ours) == 0 &&
        SameFile(theirs, ours)) {
      CloseQuietly(fd);  // already there (setns into our own user ns fails)
      continue;
    }
    if (i == kUserIndex) {
      s->user_fd = fd;
    } else {
      s->ns_fds[i] = fd;
      if (strcmp(name, "mnt") == 0) mnt_changed = true;
    }
  }
  int root = openat(dir, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    int err = errno;
    std::string path = proc + "/root";
    CloseQuietly(dir);
    ThrowErrno(env, err, "open", &path);
    return false;
  }
  CloseQuietly(dir);
  struct stat theirs, ours;
  if (!mnt_changed && fstat(root, &theirs) == 0 &&
      stat("/proc/thread-self/root", &ours) == 0 && SameFile(theirs, ours)) {
    CloseQuietly(root);  // same root: no chroot needed
  } else {
    s->root_fd = root;
  }
  return true;
}

bool StringArray(Napi::Env env, Napi::Value v, const char* name,
                 std::vector<std::string>* out) {
  if (!v.IsArray()) {
    ThrowType(env, std::string(name) + " must be an array of strings");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string item;
    if (!ValueCString(env, a.Get(i), name, &item)) return false;
    out->push_back(std::move(item));
  }
  return true;
}

bool OptionalId(Napi::Env env, Napi::Object o, const char* key, bool* has,
                uint32_t* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  int64_t n;
  if (!ValueInt(env, v, key, 0, 4294967294LL, &n)) return false;
  *has = true;
  *out = static_cast<uint32_t>(n);
  return true;
}

// PATH search happens in the process; here we only list the candidates.
void Candidates(Spawn* s) {
  if (s->path.find('/') != std::string::npos) {
    s->candidates.push_back(s->path);
  } else {
    std::string search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const std::string& e : s->env_strings) {
      if (e.compare(0, 5, "PATH=") == 0) {
        search = e.substr(5);
        break;
      }
    }
    size_t start = 0;
    for (;;) {
      size_t end = search.find(':', start);
      std::string dir = search.substr(
          start, end == std::string::npos ? std::string::npos : end - start);
      if (dir.empty()) dir = ".";
      s->candidates.push_back(dir + "/" + s->path);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (const std::string& c : s->candidates) s->candidate_ptrs.push_back(c.c_str());
}

bool ParseOptions(Napi::Env env, Napi::Value arg, Spawn* s) {
  if (!arg.IsObject()) {
    ThrowType(env, "options must be an object");
    return false;
  }
  Napi::Object o = arg.As<Napi::Object>();
  int64_t n;
  if (!ValueInt(env, o.Get("pid"), "pid", 1, INT32_MAX, &n)) return false;
  s->pid = static_cast<int>(n);
  if (!ValueCString(env, o.Get("path"), "path", &s->path)) return false;
  if (!StringArray(env, o.Get("args"), "args", &s->arg_strings)) return false;
  if (!StringArray(env, o.Get("env"), "env", &s->env_strings)) return false;
  Napi::Value cwd = o.Get("cwd");
  if (!cwd.IsUndefined() && !cwd.IsNull()) {
    if (!ValueCString(env, cwd, "cwd", &s->cwd)) return false;
    s->has_cwd = true;
  }
  if (!OptionalId(env, o, "uid", &s->has_uid, &s->uid) ||
      !OptionalId(env, o, "gid", &s->has_gid, &s->gid))
    return false;
  Napi::Value groups = o.Get("groups");
  if (!groups.IsUndefined() && !groups.IsNull()) {
    if (!groups.IsArray()) {
      ThrowType(env, "groups must be an array");
      return false;
    }
    Napi::Array a = groups.As<Napi::Array>();
    if (a.Length() > 65536) {
      ThrowType(env, "too many groups");
      return false;
    }
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!ValueInt(env, a.Get(i), "groups[i]", 0, 4294967294LL, &n)) return false;
      s->groups.push_back(static_cast<gid_t>(n));
    }
    s->has_groups = true;
  }
  Napi::Value stdio = o.Get("stdio");
  if (!stdio.IsArray() || stdio.As<Napi::Array>().Length() != 3) {
    ThrowType(env, "stdio must be an array of 3 fds");
    return false;
  }
  for (uint32_t i = 0; i < 3; i++) {
    if (!ValueInt(env, stdio.As<Napi::Array>().Get(i), "stdio[i]", 0, INT32_MAX, &n))
      return false;
    s->stdio[i] = static_cast<int>(n);
  }
  Napi::Value tty = o.Get("tty");
  s->tty = tty.IsBoolean() && tty.As<Napi::Boolean>().Value();
  Napi::Value cgroups = o.Get("cgroupFds");
  if (!cgroups.IsUndefined() && !cgroups.IsNull()) {
    if (!cgroups.IsArray()) {
      ThrowType(env, "cgroupFds must be an array");
      return false;
    }
    Napi::Array a = cgroups.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!ValueInt(env, a.Get(i), "cgroupFds[i]", 0, INT32_MAX, &n)) return false;
      s->cgroup_fds.push_back(static_cast<int>(n));
    }
  }

  if (s->path.empty()) {
    ThrowErrno(env, ENOENT, "execve", &s->path);
    return false;
  }
  if (s->arg_strings.empty()) s->arg_strings.push_back(s->path);
  for (std::string& a : s->arg_strings) s->argv.push_back(&a[0]);
  s->argv.push_back(nullptr);
  for (std::string& e : s->env_strings) s->envp.push_back(&e[0]);
  s->envp.push_back(nullptr);
  Candidates(s);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    s->fd_limit = rl.rlim_cur > 65536 ? 65536 : static_cast<int>(rl.rlim_cur);
  return true;
}

// Reads exactly one report; false on EOF (or a read error).
bool ReadReport(int fd, Report* r) {
  char* p = reinterpret_cast<char*>(r);
  size_t got = 0;
  while (got < sizeof *r) {
    ssize_t n = read(fd, p + got, sizeof *r - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

void Reap(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// nsSpawn(options): {pid, wait: Promise<number>}
Napi::Value NsSpawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Spawn s;
  if (!ParseOptions(env, info[0], &s) || !OpenTarget(env, &s))
    return env.Undefined();

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return ThrowErrno(env, errno, "pipe2");
  // The process dup2s onto 0..2; keep the report pipe above them.
  for (int& fd : pipefd) {
    if (fd > 2) continue;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    CloseQuietly(fd);
    fd = high;
    if (high < 0) {
      CloseQuietly(pipefd[0]);
      CloseQuietly(pipefd[1]);
      return ThrowErrno(env, err, "fcntl");
    }
  }

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t helper = fork();
  if (helper == 0) {
    close(pipefd[0]);
    Helper(s, pipefd[1]);
  }
  int fork_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  CloseQuietly(pipefd[1]);
  if (helper < 0) {
    CloseQuietly(pipefd[0]);
    return ThrowErrno(env, fork_err, "fork");
  }

  // Until EOF: the helper closes its end after reporting the pid, the
  // process's end closes on exec.
  pid_t pid = 0;
  Report failure = {};
  Report r;
  while (ReadReport(pipefd[0], &r)) {
    if (r.kind == kReportPid) pid = r.value;
    if (r.kind == kReportError && failure.kind == 0) failure = r;
  }
  CloseQuietly(pipefd[0]);

  if (failure.kind != 0 || pid == 0) {
    Reap(helper);
    if (failure.kind == 0)
      return ThrowErrno(env, EIO, "fork");  // the helper died silently
    std::string detail;
    switch (failure.stage) {
      case kSetns:
        detail = "/proc/" + std::to_string(s.pid) + "/ns/" +
                 (failure.value == kUserIndex ? "user"
                  : failure.value >= 0 && failure.value < kNumNamespaces
                      ? kNamespaces[failure.value]
                      : "?");
        break;
      case kChdir: detail = s.cwd; break;
      case kExecve: detail = s.path; break;
      default: break;
    }
    return ThrowErrno(env, failure.err, StageSyscall(failure.stage),
                      detail.empty() ? nullptr : &detail);
  }

  State* st = GetState(env);
  napi_deferred d;
  napi_value promise;
  napi_create_promise(env, &d, &promise);
  ChildWaiter* waiter = new ChildWaiter(st, helper, d);
  st->Adopt(waiter);
  int err = waiter->Start();
  if (err < 0) {
    // Cannot watch it: reap it synchronously would block; reject instead.
    napi_reject_deferred(env, d, ErrnoError(env, -err, "uv_poll_start").Value());
    waiter->Close();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("wait", Napi::Value(env, promise));
  return out;
}

}  // namespace

void InitNsspawn(Napi::Env env, Napi::Object exports) {
  exports.Set("nsSpawn", Napi::Function::New(env, NsSpawn, "nsSpawn"));
}

}  // namespace garden
