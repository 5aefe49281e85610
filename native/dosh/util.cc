#include "dosh/util.h"

#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace dosh {

void Fd::reset(int fd) {
  if (fd_ >= 0) close(fd_);  // never retried: Linux closes the fd even on EINTR
  fd_ = fd;
}

int fail(std::string_view message, int code) {
  std::string line = "dosh: ";
  line.append(message);
  line.push_back('\n');
  write_all(2, line.data(), line.size());
  return code;
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

std::string errno_message(int err, const char* syscall) {
  std::string text = strerror(err);
  // Node lowercases the first letter of a sentence, not of an acronym.
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z'))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return errno_name(err) + ": " + text + ", " + syscall;
}

bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n >= 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) return false;
  }
  return true;
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c == 0xe0) n = 2, lo = 0xa0;
    else if (c == 0xed) n = 2, hi = 0x9f;  // no UTF-16 surrogates
    else if (c >= 0xe1 && c <= 0xef) n = 2;
    else if (c == 0xf0) n = 3, lo = 0x90;
    else if (c == 0xf4) n = 3, hi = 0x8f;  // nothing past U+10FFFF
    else if (c >= 0xf1 && c <= 0xf3) n = 3;
    else return false;
    if (static_cast<size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t k = 2; k <= n; k++)
      if ((p[k] & 0xc0) != 0x80) return false;
    p += n + 1;
  }
  return true;
}

long long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

bool is_executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// $NODE, else `node` on PATH.
std::string find_node() {
  const char* env = getenv("NODE");
  if (env != nullptr && *env != '\0') return env;
  const char* path = getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (;;) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/node";
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string_view::npos) return "";
    dirs.remove_prefix(colon + 1);
  }
}

std::string dirname_of(const std::string& p) {
  size_t slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

}  // namespace

int exec_node_cli(int argc, char** argv) {
  // The package root is two levels above this binary (build/Release/dosh).
  std::vector<char> buf(4096);
  ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0 || static_cast<size_t>(n) >= buf.size() - 1)
    return fail("cannot run the Node CLI: " + errno_message(n < 0 ? errno : ENAMETOOLONG, "readlink") + " '/proc/self/exe'");
  std::string self(buf.data(), static_cast<size_t>(n));
  std::string script = dirname_of(dirname_of(dirname_of(self))) + "/bin/dosh.js";
  if (access(script.c_str(), R_OK) != 0) return fail("cannot run the Node CLI: " + errno_message(errno, "access") + " '" + script + "'");
  std::string node = find_node();
  if (node.empty()) return fail("cannot run the Node CLI: node is not on PATH (set NODE to its path)");

  std::vector<char*> args;
  args.reserve(static_cast<size_t>(argc) + 2);
  args.push_back(node.data());
  args.push_back(script.data());
  for (int i = 1; i < argc; i++) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(node.c_str(), args.data());
  return fail("cannot run the Node CLI: " + errno_message(errno, "execv") + " '" + node + "'");
}

}  // namespace dosh
