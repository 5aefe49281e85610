#include "dosh/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace dosh {

namespace {

// Signals that would kill us with the terminal left raw: we restore it, then
// die of them as we would have.
constexpr int kFatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr size_t kChunk = 64u << 10;
// After the exit: how long the pty may stay silent before we stop waiting for
// its last output (EIO normally ends it first; a loaded machine flushes late).
constexpr int kDrainMs = 2000;

// Our stdin in raw mode for as long as this lives (libuv's raw mode, as the
// Node CLI's setRawMode(true)).
class RawMode {
 public:
  RawMode() {
    if (!isatty(0) || tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_iflag &= ~(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_oflag |= ONLCR;
    raw.c_cflag |= CS8;
    raw.c_lflag &= ~(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = set(raw);
  }
  ~RawMode() { restore(); }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

  void restore() {
    if (active_) set(saved_);
    active_ = false;
  }

 private:
  static bool set(const termios& t) {
    int r;
    do {
      r = tcsetattr(0, TCSADRAIN, &t);
    } while (r != 0 && errno == EINTR);
    return r == 0;
  }

  termios saved_{};
  bool active_ = false;
};

struct Buffer {
  std::vector<char> data = std::vector<char>(kChunk);
  size_t off = 0, len = 0;

  bool empty() const { return off == len; }
  void clear() { off = len = 0; }
  // One read into the empty buffer: >0 bytes, 0 at EOF, -1 with errno.
  ssize_t fill(int fd) {
    ssize_t n = read(fd, data.data(), data.size());
    if (n > 0) off = 0, len = static_cast<size_t>(n);
    return n;
  }
  // One write of what is buffered: false on an error other than "try again".
  bool drain(int fd) {
    ssize_t n = write(fd, data.data() + off, len - off);
    if (n >= 0) {
      off += static_cast<size_t>(n);
      if (off == len) clear();
      return true;
    }
    return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
  }
};

bool again(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

[[noreturn]] void die_of(int sig, RawMode& raw) {
  raw.restore();
  signal(sig, SIG_DFL);
  raise(sig);  // pending while blocked; delivered by the unblock
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  _exit(128 + sig);
}

}  // namespace

int session_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void terminal_size(uint32_t& cols, uint32_t& rows) {
  winsize ws{};
  if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0) {
    cols = ws.ws_col;
    rows = ws.ws_row;
  } else {
    cols = 80;
    rows = 24;
  }
}

bool run_session(Attachment& proc, Fd master, Fd signals, int& code, std::string& error) {
  // From here a fatal signal goes through the signalfd too.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  for (int sig : kFatal) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0 || signalfd(signals.get(), &set, 0) < 0) {
    error = errno_message(errno, "signalfd");
    return false;
  }
  int flags = fcntl(master.get(), F_GETFL);
  if (flags < 0 || fcntl(master.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    error = errno_message(errno, "fcntl");
    return false;
  }

  RawMode raw;
  Buffer in, out;  // stdin -> master, master -> stdout
  bool stdin_open = true, master_open = true, stdout_ok = true;
  bool exited = proc.exit_buffered(code, error);
  if (!error.empty()) return false;
  long long deadline = exited ? now_ms() + kDrainMs : 0;

  for (;;) {
    if (exited && ((!master_open && out.empty()) || now_ms() >= deadline)) break;
    enum { kSock, kSignals, kStdin, kMaster, kStdout };
    pollfd pf[5];
    short master_events = static_cast<short>((master_open && out.empty() ? POLLIN : 0) | (!in.empty() ? POLLOUT : 0));
    pf[kSock] = {exited ? -1 : proc.fd(), POLLIN, 0};
    pf[kSignals] = {signals.get(), POLLIN, 0};
    pf[kStdin] = {stdin_open && in.empty() && !exited ? 0 : -1, POLLIN, 0};
    pf[kMaster] = {master_events ? master.get() : -1, master_events, 0};
    pf[kStdout] = {out.empty() ? -1 : 1, POLLOUT, 0};
    int timeout = -1;
    if (exited) timeout = static_cast<int>(deadline - now_ms() > 0 ? deadline - now_ms() : 0);
    if (poll(pf, 5, timeout) < 0) {
      if (errno == EINTR) continue;
      error = errno_message(errno, "poll");
      return false;
    }

    if (pf[kSignals].revents) {
      signalfd_siginfo si;
      while (read(signals.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig != SIGWINCH) die_of(sig, raw);
        if (!exited) {
          uint32_t cols, rows;
          terminal_size(cols, rows);
          proc.resize(cols, rows);
        }
      }
    }
    if (pf[kSock].revents) {
      if (!proc.on_readable(&exited, code, error)) return false;
      if (exited) deadline = now_ms() + kDrainMs;
    }
    if (pf[kStdin].revents) {
      ssize_t n = in.fill(0);
      if (n == 0 || (n < 0 && !again(errno))) stdin_open = false;
    }
    if (!in.empty() && (pf[kMaster].revents & (POLLOUT | POLLERR | POLLHUP))) {
      // A failed write means the process is gone; its exit is on its way.
      if (!in.drain(master.get())) in.clear();
    }
    if (out.empty() && master_open && (pf[kMaster].revents & (POLLIN | POLLERR | POLLHUP))) {
      ssize_t n = out.fill(master.get());
      if (n == 0 || (n < 0 && !again(errno))) master_open = false;  // EIO: the terminal is closed
      if (n > 0 && exited) deadline = now_ms() + kDrainMs;
      if (!stdout_ok) out.clear();
    }
    if (!out.empty() && pf[kStdout].revents) {
      if (!out.drain(1)) stdout_ok = false, out.clear();
    }
  }
  if (stdout_ok && !out.empty()) write_all(1, out.data.data() + out.off, out.len - out.off);
  return true;
}

}  // namespace dosh
