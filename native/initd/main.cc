// init-d: PID 1 of every node-garden container. It reaps every child, keeps
// a unix socket through which the host spawns and attaches to processes, and
// never exits on anything a client sends. See native/common/PROTOCOL.md.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/protocol.h"
#include "initd/loop.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: init-d --socket PATH [--buffer BYTES] [--replay BYTES] [--stop-timeout MS]\n"
               "  --socket PATH       unix socket the host connects to (its dir is made root-only)\n"
               "  --buffer BYTES      unsent output kept per stream before the process blocks (default %zu)\n"
               "  --replay BYTES      sent output kept per stream for re-attaching (default %zu)\n"
               "  --stop-timeout MS   on SIGTERM, time before SIGKILL to what is left (default 5000)\n",
               initd::kDefaultBuffer, initd::kDefaultReplay);
}

bool parse_size(const char* s, size_t& out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!*s || *end || v > (1ull << 32)) return false;
  out = static_cast<size_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep fds 0-2 taken so nothing we open lands there by accident.
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);

  initd::Options opts;
  opts.buffer = initd::kDefaultBuffer;
  opts.replay = initd::kDefaultReplay;
  opts.shutdown_timeout_ms = 5000;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    size_t n = 0;
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else if (a == "--socket" && next) {
      opts.socket_path = next, i++;
    } else if (a == "--buffer" && next && parse_size(next, n) && n >= 4096) {
      opts.buffer = n, i++;
    } else if (a == "--replay" && next && parse_size(next, n)) {
      opts.replay = n, i++;
    } else if (a == "--stop-timeout" && next && parse_size(next, n) && n <= 3600000) {
      opts.shutdown_timeout_ms = static_cast<int>(n), i++;
    } else {
      std::fprintf(stderr, "init-d: bad argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (opts.socket_path.empty()) {
    usage();
    return 2;
  }
  initd::Loop loop(opts);
  if (!loop.start()) return 1;
  return loop.run();
}
