#include "dosh/client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "initd/msgpack.h"

namespace dosh {

namespace enc = initd::enc;
using initd::Value;

namespace {

constexpr size_t kRecvBytes = 64u << 10;  // as the Node client's recvFds

std::string unreachable(const std::string& socket_path, const std::string& reason) {
  return "init-d at " + socket_path + " is unreachable (" + reason + ")";
}

void sleep_ms(int ms) {
  timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// A connected, blocking, CLOEXEC unix socket; or -1 with errno. A full listen
// backlog (EAGAIN) is retried for up to 5 s, as connectUnixAsync does.
int connect_unix(const std::string& path) {
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    errno = path.empty() ? ENOENT : ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  long long deadline = now_ms() + 5000;
  int delay = 1;
  for (;;) {
    Fd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s.valid()) return -1;
    int r;
    do {
      r = connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      int flags = fcntl(s.get(), F_GETFL);
      if (flags < 0 || fcntl(s.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return -1;
      return s.release();
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (now_ms() >= deadline) {
      errno = EAGAIN;
      return -1;
    }
    sleep_ms(delay);
    delay = delay * 2 > 50 ? 50 : delay * 2;
  }
}

std::string encode_spawn(const SpawnSpec& spec) {
  // The fields spawnRequest() in src/initd/client.ts sends, and no others.
  uint32_t n = 3 + !spec.args.empty() + !spec.env.empty() + !spec.dir.empty() + !spec.user.empty() + spec.tty;
  std::string b;
  enc::map(b, n);
  enc::str(b, "op");
  enc::str(b, "spawn");
  enc::str(b, "path");
  enc::str(b, spec.path);
  enc::str(b, "io");
  enc::str(b, "direct");
  auto list = [&b](const char* key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    enc::str(b, key);
    enc::array(b, static_cast<uint32_t>(items.size()));
    for (const auto& s : items) enc::str(b, s);
  };
  list("args", spec.args);
  list("env", spec.env);
  if (!spec.dir.empty()) enc::str(b, "dir"), enc::str(b, spec.dir);
  if (!spec.user.empty()) enc::str(b, "user"), enc::str(b, spec.user);
  if (spec.tty) {
    enc::str(b, "tty");
    enc::map(b, 2);
    enc::str(b, "cols");
    enc::uint(b, spec.cols);
    enc::str(b, "rows");
    enc::uint(b, spec.rows);
  }
  return initd::frame(b);
}

// Writes all of `data`, with `fds` riding on the first byte. 0 or an errno.
int send_all(int sock, const std::string& data, const int* fds, size_t nfds) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * 3)];
    cmsghdr align;
  } control;
  size_t off = 0;
  while (off < data.size()) {
    iovec iov = {const_cast<char*>(data.data() + off), data.size() - off};
    msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (off == 0 && nfds > 0) {
      std::memset(&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    off += static_cast<size_t>(n);
  }
  return 0;
}

// One recvmsg: bytes into buf, at most one fd (CLOEXEC) into fds. 0 or an
// errno (EMSGSIZE when more fds came; those are closed).
int recv_with_fd(int sock, char* buf, size_t len, size_t& got, std::vector<Fd>& fds) {
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    cmsghdr align;
  } control;
  for (;;) {
    iovec iov = {buf, len};
    msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    size_t before = fds.size();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
    // The buffer may round up to room for a second fd: that is too many too.
    if ((msg.msg_flags & MSG_CTRUNC) || fds.size() - before > 1) {
      fds.resize(before);  // closes them
      return EMSGSIZE;
    }
    got = static_cast<size_t>(n);
    return 0;
  }
}

bool truthy(const Value* v) {
  if (v == nullptr) return false;
  switch (v->type) {
    case Value::Nil: return false;
    case Value::Bool: return v->b;
    case Value::Int: return v->negative || v->u != 0;
    case Value::Float: return v->f != 0 && !std::isnan(v->f);
    case Value::Str: return !v->s.empty();
    default: return true;
  }
}

// String(x) of a reply field, for the values init-d can send; `fallback` for
// absent or nil (the `??` in fromReply).
std::string js_string(const Value* v, const std::string& fallback) {
  if (v == nullptr || v->type == Value::Nil) return fallback;
  switch (v->type) {
    case Value::Str: return std::string(v->s);
    case Value::Bool: return v->b ? "true" : "false";
    case Value::Int: return v->negative ? std::to_string(v->i) : std::to_string(v->u);
    default: return fallback;
  }
}

// The message of fromReply() in src/initd/errors.ts (the request has no id).
std::string reply_error(const Value& reply) {
  std::string code = js_string(reply.get("error"), "error");
  if (code == "not_found") return "unknown process: ";
  return js_string(reply.get("message"), code);
}

}  // namespace

bool Attachment::spawn(const std::string& socket_path, const SpawnSpec& spec, std::string& error) {
  socket_path_ = socket_path;
  sock_.reset(connect_unix(socket_path));
  if (!sock_.valid()) {
    error = unreachable(socket_path, errno_name(errno));
    return false;
  }
  static const int kStdio[3] = {0, 1, 2};
  if (int err = send_all(sock_.get(), encode_spawn(spec), kStdio, spec.tty ? 0 : 3)) {
    error = errno_message(err, "sendmsg");
    return false;
  }
  std::vector<Fd> passed;
  std::string buf(kRecvBytes, '\0');
  for (;;) {
    Value reply;
    initd::FrameReader::Result r = reader_.next(reply);
    if (r == initd::FrameReader::kBad) {
      error = "init-d protocol error: undecodable frame";
      return false;
    }
    if (r == initd::FrameReader::kFrame) {
      if (!truthy(reply.get("ok"))) {
        error = reply_error(reply);
        return false;
      }
      break;
    }
    size_t got = 0;
    if (int err = recv_with_fd(sock_.get(), &buf[0], buf.size(), got, passed)) {
      error = errno_message(err, "recvmsg");
      return false;
    }
    if (got == 0) {
      error = unreachable(socket_path, "Error: closed without a reply");
      return false;
    }
    reader_.feed(buf.data(), got);
  }
  if (spec.tty) {
    if (passed.empty()) {
      error = "init-d protocol error: no pty master came with the reply";
      return false;
    }
    master_ = std::move(passed.front());
  }
  return true;  // any other fd closes with `passed`
}

Attachment::Next Attachment::next_exit(int& code) {
  for (;;) {
    Value m;
    initd::FrameReader::Result r = reader_.next(m);
    if (r == initd::FrameReader::kNeedMore) return kMore;
    if (r == initd::FrameReader::kBad) return kBroken;
    const Value* t = m.get("t");
    if (t == nullptr || t->type != Value::Str || t->s != "exit") continue;
    const Value* c = m.get("code");
    if (c == nullptr) return kBroken;
    if (c->type == Value::Int) {
      // process.exit(code): the status is its low byte.
      code = static_cast<int>((c->negative ? static_cast<uint64_t>(c->i) : c->u) & 0xff);
    } else if (c->type == Value::Float && std::isfinite(c->f) && std::trunc(c->f) == c->f && std::fabs(c->f) < 1e15) {
      code = static_cast<int>(static_cast<uint64_t>(static_cast<int64_t>(c->f)) & 0xff);
    } else {
      return kBroken;
    }
    return kExit;
  }
}

std::string Attachment::closed_early() const {
  return unreachable(socket_path_, "Error: connection closed before the process exited");
}

bool Attachment::exit_buffered(int& code, std::string& error) {
  Next n = next_exit(code);
  if (n == kBroken) error = closed_early();
  return n == kExit;
}

bool Attachment::on_readable(bool* exited, int& code, std::string& error) {
  char buf[4096];
  ssize_t n = read(sock_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    error = closed_early();
    return false;
  }
  reader_.feed(buf, static_cast<size_t>(n));
  Next next = next_exit(code);
  if (next == kBroken) {
    error = closed_early();
    return false;
  }
  *exited = next == kExit;
  return true;
}

bool Attachment::wait(int& code, std::string& error) {
  for (;;) {
    if (exit_buffered(code, error)) return true;
    if (!error.empty()) return false;
    bool exited = false;
    if (!on_readable(&exited, code, error)) return false;
    if (exited) return true;
  }
}

void Attachment::resize(uint32_t cols, uint32_t rows) {
  if (!sock_.valid()) return;
  std::string b;
  enc::map(b, 3);
  enc::str(b, "t");
  enc::str(b, "resize");
  enc::str(b, "cols");
  enc::uint(b, cols);
  enc::str(b, "rows");
  enc::uint(b, rows);
  std::string f = initd::frame(b);
  size_t off = 0;
  while (off < f.size()) {
    ssize_t n = send(sock_.get(), f.data() + off, f.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // the exit (or the error) comes on the read side
    off += static_cast<size_t>(n);
  }
}

}  // namespace dosh
