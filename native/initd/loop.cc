#include "initd/loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/protocol.h"
#include "initd/spawn.h"
#include "initd/users.h"

namespace initd {
namespace {

constexpr size_t kReadChunk = 64u << 10;
constexpr size_t kMaxKeptOutputs = 256;  // exited processes whose replay bytes we keep

void log(const char* fmt, const std::string& arg = "") {
  std::fprintf(stderr, "init-d: ");
  std::fprintf(stderr, fmt, arg.c_str());
  std::fputc('\n', stderr);
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string new_id() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
    else if (errno != EINTR) break;
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

std::string ok_reply(size_t extra_fields) {
  std::string b;
  enc::map(b, static_cast<uint32_t>(1 + extra_fields));
  enc::str(b, "ok");
  enc::boolean(b, true);
  return b;
}

void set_winsize(int fd, uint16_t cols, uint16_t rows) {
  winsize ws{};
  ws.ws_col = cols;
  ws.ws_row = rows;
  ioctl(fd, TIOCSWINSZ, &ws);
}

}  // namespace

// ---------------------------------------------------------------- set-up

bool Loop::start() {
  pid1_ = getpid() == 1;
  // Off PID 1 (tests on the host), orphans still come to us to be reaped.
  if (!pid1_) prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Every disposition default but SIGPIPE's, so a child has only that one
  // to undo before exec (handlers never survive exec; ignored signals do).
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sig_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (sig_fd_ < 0 || timer_fd_ < 0 || epfd_ < 0) {
    log("setting up the loop: %s", std::strerror(errno));
    return false;
  }

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (opts_.socket_path.size() >= sizeof addr.sun_path) {
    log("socket path too long: %s", opts_.socket_path);
    return false;
  }
  std::memcpy(addr.sun_path, opts_.socket_path.c_str(), opts_.socket_path.size() + 1);
  std::string dir = opts_.socket_path.substr(0, opts_.socket_path.rfind('/'));
  if (!dir.empty()) {
    mkdir(dir.c_str(), 0700);  // a missing parent of the parent is the caller's error, reported by bind
    chmod(dir.c_str(), 0700);  // root-only; fails harmlessly where the dir is not ours
  }
  unlink(opts_.socket_path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      listen(listen_fd_, 512) < 0) {
    log("listening on %s", opts_.socket_path + ": " + std::strerror(errno));
    return false;
  }
  chmod(opts_.socket_path.c_str(), 0600);

  watch_fd(listen_fd_, &listen_watch_, EPOLLIN);
  watch_fd(sig_fd_, &sig_watch_, EPOLLIN);
  watch_fd(timer_fd_, &timer_watch_, EPOLLIN);
  return true;
}

void Loop::watch_fd(int fd, Watch* w, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void Loop::modify_fd(int fd, Watch* w, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

int Loop::run() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epfd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log("epoll_wait: %s", std::strerror(errno));
      continue;  // PID 1 keeps going whatever happens
    }
    for (int i = 0; i < n; i++) {
      auto* w = static_cast<Watch*>(events[i].data.ptr);
      switch (w->kind) {
        case Watch::kListener: accept_all(); break;
        case Watch::kSignals: on_signals(); break;
        case Watch::kTimer: on_timer(); break;
        case Watch::kConn: on_conn(static_cast<Conn*>(w->target), events[i].events); break;
        case Watch::kOutput: on_output(static_cast<Process*>(w->target), w->stream); break;
        case Watch::kStdin: on_stdin(static_cast<Process*>(w->target)); break;
        case Watch::kSink: on_sink(static_cast<Conn*>(w->target), events[i].events); break;
      }
    }
    // Freed only now: a later event of the same batch may point at them.
    dead_conns_.clear();
    dead_procs_.clear();
    if (shutting_down_ && no_children()) return 0;
  }
}

// ---------------------------------------------------------------- connections

void Loop::accept_all() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of fds: try again on the next event
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    bool allowed = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
                   (pid1_ ? cred.pid == 0 : (cred.uid == 0 || cred.uid == geteuid()));
    if (!allowed || conns_.size() >= kMaxConnections) {
      close(fd);
      continue;
    }
    // Bytes in flight past `delivered` must fit the replay window for a
    // crashed consumer to resume exactly, so the socket buffer stays small.
    int sndbuf = 256 << 10;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    auto conn = std::make_unique<Conn>();
    conn->fd = fd;
    conn->watch.target = conn.get();
    conn->sink_watch.target = conn.get();
    Conn* c = conn.get();
    conns_[fd] = std::move(conn);
    c->events = EPOLLIN | EPOLLRDHUP;
    watch_fd(fd, &c->watch, c->events);
  }
}

void Loop::set_events(Conn* c, uint32_t events) {
  if (events == c->events) return;
  c->events = events;
  modify_fd(c->fd, &c->watch, events);
}

// Reads while there is room; writes while anything is pending.
void Loop::update_conn_events(Conn* c) {
  uint32_t ev = EPOLLRDHUP;
  bool stdin_full = c->proc && c->proc->stdin_buf.size() >= kMaxFrame;
  if (c->state == Conn::kDraining || (!c->read_eof && !stdin_full && c->reader.buffered() <= kMaxFrame + 4))
    ev |= EPOLLIN;
  if (c->pending || !c->ctl.empty()) ev |= EPOLLOUT;
  set_events(c, ev);
}

void Loop::on_conn(Conn* c, uint32_t events) {
  if (c->fd < 0) return;  // dropped earlier in this batch
  if (events & (EPOLLERR | EPOLLHUP)) {
    drop(c);
    return;
  }
  if (events & EPOLLOUT) {
    flush(c);
    if (c->fd < 0) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP)) read_conn(c);
}

void Loop::read_conn(Conn* c) {
  const int fd = c->fd;
  static char buf[kReadChunk];  // single-threaded: one buffer serves every read
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    drop(c);
    return;
  }
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; k++) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(cm) + k * sizeof(int), sizeof passed);
      c->fds.push_back(passed);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    drop(c);
    return;
  }
  if (c->state == Conn::kDraining) {
    while (!c->fds.empty()) close(c->fds.front()), c->fds.pop_front();
    if (n == 0) drop(c);
    return;
  }
  if (n == 0) {
    c->read_eof = true;
    // A client that half-closes still gets its output; one that only ever
    // sent a request and left has nothing more coming.
    if (c->state == Conn::kRequest) {
      drop(c);
      return;
    }
    update_conn_events(c);
    return;
  }
  c->reader.feed(buf, static_cast<size_t>(n));
  Value frame;
  for (;;) {
    auto r = c->reader.next(frame);
    if (r == FrameReader::kNeedMore) break;
    if (r == FrameReader::kBad) {
      drop(c);
      return;
    }
    handle_frame(c, frame);
    if (c->fd < 0) return;
  }
  // fds not claimed by the frame they came with are not ours to keep.
  if (c->reader.buffered() == 0)
    while (!c->fds.empty()) close(c->fds.front()), c->fds.pop_front();
  update_conn_events(c);
}

void Loop::handle_frame(Conn* c, const Value& frame) {
  std::string error;
  if (c->state == Conn::kRequest) {
    Request req;
    if (!parse_request(frame, req, error)) {
      reply_error(c, err::kBadRequest, error);
      return;
    }
    handle_request(c, req);
    return;
  }
  if (c->state == Conn::kAttached) {
    StreamMessage msg;
    if (!parse_stream_message(frame, msg, error)) {
      drop(c);
      return;
    }
    handle_stream_message(c, msg);
    return;
  }
  drop(c);  // waiting connections send nothing more
}

void Loop::queue(Conn* c, const std::string& body, int fd) {
  char hdr[4];
  frame_header(hdr, body.size());
  if (fd >= 0) c->ctl_fd = fd;
  c->ctl.append(hdr, 4);
  c->ctl.append(body);
  flush(c);
}

// An error reply ends the connection once written.
void Loop::reply_error(Conn* c, const char* code, const std::string& message) {
  std::string b;
  enc::map(b, 3);
  enc::str(b, "ok");
  enc::boolean(b, false);
  enc::str(b, "error");
  enc::str(b, code);
  enc::str(b, "message");
  enc::str(b, message);
  c->close_after_flush = true;
  c->state = Conn::kWaiting;
  queue(c, b);
}

void Loop::drop(Conn* c) {
  if (Process* p = c->proc) {
    p->attached.erase(std::remove(p->attached.begin(), p->attached.end(), c), p->attached.end());
    p->waiters.erase(std::remove(p->waiters.begin(), p->waiters.end(), c), p->waiters.end());
    c->proc = nullptr;
    after_progress(p);  // this connection no longer holds bytes back
  }
  stop_waiters_.erase(std::remove(stop_waiters_.begin(), stop_waiters_.end(), c), stop_waiters_.end());
  while (!c->fds.empty()) close(c->fds.front()), c->fds.pop_front();
  close_fd(c->ctl_fd);
  close_sink(c);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  auto it = conns_.find(c->fd);
  c->fd = -1;
  dead_conns_.push_back(std::move(it->second));
  conns_.erase(it);
}

// Writes pending frames: the current "out" frame, then control frames, then
// more output, then the exit frame when everything has been sent.
void Loop::flush(Conn* c) {
  for (;;) {
    if (c->pending) {
      Process* p = c->proc;
      Stream& s = p->out[c->pending_stream - 1];
      iovec iov[3];
      int n = 0;
      size_t hdr_len = c->pending_hdr.size();
      size_t done = c->pending_done;
      if (done < hdr_len) iov[n++] = {c->pending_hdr.data() + done, hdr_len - done};
      size_t data_done = done > hdr_len ? done - hdr_len : 0;
      iovec data[2];
      int dn = s.ring.readable(c->pending_off + data_done, c->pending_len - data_done, data);
      for (int k = 0; k < dn; k++) iov[n++] = data[k];
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        drop(c);
        return;
      }
      c->pending_done += static_cast<size_t>(w);
      if (c->pending_done < hdr_len + c->pending_len) continue;
      c->pending = false;
      c->cursor[c->pending_stream - 1] = c->pending_off + c->pending_len;
      s.delivered = std::max(s.delivered, c->cursor[c->pending_stream - 1]);
      after_progress(p);
      continue;
    }
    if (!c->ctl.empty()) {
      iovec iov{c->ctl.data(), c->ctl.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
      if (c->ctl_fd >= 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &c->ctl_fd, sizeof(int));
      }
      ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        drop(c);
        return;
      }
      close_fd(c->ctl_fd);
      c->ctl.erase(0, static_cast<size_t>(w));
      continue;
    }
    if (c->close_after_flush) {
      if (c->read_eof || shutdown(c->fd, SHUT_WR) < 0) {
        drop(c);
        return;
      }
      c->close_after_flush = false;
      c->state = Conn::kDraining;
      if (Process* p = c->proc) {
        p->attached.erase(std::remove(p->attached.begin(), p->attached.end(), c), p->attached.end());
        c->proc = nullptr;
        after_progress(p);
      }
      break;
    }
    Process* p = c->proc;
    if (c->state != Conn::kAttached || !p) break;
    bool acked = false;
    for (int s = 0; s < 2 && !acked; s++) {
      if (!c->mute_ack[s]) continue;
      c->mute_ack[s] = false;
      std::string b;
      enc::map(b, 3);
      enc::str(b, "t");
      enc::str(b, "muted");
      enc::str(b, "s");
      enc::uint(b, static_cast<uint64_t>(s + 1));
      enc::str(b, "o");
      enc::uint(b, c->cursor[s]);
      char hdr[4];
      frame_header(hdr, b.size());
      c->ctl.append(hdr, 4);
      c->ctl.append(b);
      acked = true;
    }
    if (acked) continue;
    // Next output frame: stdout first, then stderr. A sink attachment has none.
    int pick = 0;
    if (c->sink_stream) {
      flush_sink(c);
      if (c->sink_fd >= 0) break;  // the exit frame waits for the stream's end
    } else {
      for (int s = 1; s <= 2 && !pick; s++)
        if (c->wants[s - 1] && c->cursor[s - 1] < p->out[s - 1].ring.end()) pick = s;
    }
    if (pick) {
      Stream& s = p->out[pick - 1];
      size_t len = std::min<uint64_t>(s.ring.end() - c->cursor[pick - 1], kMaxDataChunk);
      std::string body;
      enc::map(body, 4);
      enc::str(body, "t");
      enc::str(body, "out");
      enc::str(body, "s");
      enc::uint(body, static_cast<uint64_t>(pick));
      enc::str(body, "o");
      enc::uint(body, c->cursor[pick - 1]);
      enc::str(body, "d");
      enc::bin_header(body, static_cast<uint32_t>(len));
      c->pending_hdr.assign(4, '\0');
      frame_header(c->pending_hdr.data(), body.size() + len);
      c->pending_hdr += body;
      c->pending = true;
      c->pending_stream = pick;
      c->pending_off = c->cursor[pick - 1];
      c->pending_len = len;
      c->pending_done = 0;
      continue;
    }
    if ((p->direct || p->finished()) && !p->running && !c->exit_queued) {
      std::string b;
      enc::map(b, 2);
      enc::str(b, "t");
      enc::str(b, "exit");
      enc::str(b, "code");
      enc::sint(b, p->code);
      c->exit_queued = true;
      c->close_after_flush = true;
      char hdr[4];
      frame_header(hdr, b.size());
      c->ctl.append(hdr, 4);
      c->ctl.append(b);
      continue;
    }
    break;
  }
  if (c->fd >= 0) update_conn_events(c);
}

// Writes the sink stream from the cursor straight into the caller's fd, and
// closes the fd once the stream has ended and every byte is out.
void Loop::flush_sink(Conn* c) {
  Process* p = c->proc;
  const int s = c->sink_stream - 1;
  Stream& st = p->out[s];
  bool blocked = false;
  while (c->sink_fd >= 0 && !c->sink_broken && c->cursor[s] < st.ring.end()) {
    iovec iov[2];
    int n = st.ring.readable(c->cursor[s], st.ring.end() - c->cursor[s], iov);
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(c->sink_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == ENOTSOCK) w = writev(c->sink_fd, iov, n);  // a pipe or file (SIGPIPE is ignored)
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        blocked = true;
        break;
      }
      c->sink_broken = true;  // EPIPE, ECONNRESET: nobody reads any more
      break;
    }
    c->cursor[s] += static_cast<uint64_t>(w);
    st.delivered = std::max(st.delivered, c->cursor[s]);
  }
  if (c->sink_broken) {
    // What the reader would have got is dropped as it comes: it holds nothing back.
    c->cursor[s] = st.ring.end();
    st.delivered = std::max(st.delivered, c->cursor[s]);
    close_sink(c);
  } else if (c->sink_fd >= 0 && st.eof && c->cursor[s] == st.ring.end()) {
    close_sink(c);
  } else if (c->sink_fd >= 0 && blocked != c->sink_watched) {
    // Watched only while blocked: a closed reader would otherwise wake us forever.
    if (blocked) watch_fd(c->sink_fd, &c->sink_watch, EPOLLOUT);
    else epoll_ctl(epfd_, EPOLL_CTL_DEL, c->sink_fd, nullptr);
    c->sink_watched = blocked;
  }
  after_progress(p);
}

void Loop::close_sink(Conn* c) {
  if (c->sink_fd < 0) return;
  if (c->sink_watched) epoll_ctl(epfd_, EPOLL_CTL_DEL, c->sink_fd, nullptr);
  c->sink_watched = false;
  close_fd(c->sink_fd);
}

void Loop::on_sink(Conn* c, uint32_t /*events*/) {
  if (c->fd < 0 || c->sink_fd < 0) return;
  flush(c);  // a writable, errored or hung-up fd: the next write says which
}

// ---------------------------------------------------------------- requests

Process* Loop::find(const std::string& id) {
  auto it = procs_.find(id);
  return it == procs_.end() ? nullptr : it->second.get();
}

void Loop::handle_request(Conn* c, const Request& req) {
  switch (req.op) {
    case Request::kPing: {
      std::string b = ok_reply(2);
      enc::str(b, "pid");
      enc::uint(b, static_cast<uint64_t>(getpid()));
      enc::str(b, "version");
      enc::str(b, kVersion);
      c->close_after_flush = true;
      c->state = Conn::kWaiting;
      queue(c, b);
      return;
    }
    case Request::kSpawn: op_spawn(c, req.spawn); return;
    case Request::kAttach: op_attach(c, req.attach); return;
    case Request::kList: op_list(c); return;
    case Request::kStop: op_stop(c, req.kill, req.timeout_ms); return;
    case Request::kSignal:
    case Request::kResize:
    case Request::kWait: break;
  }
  Process* p = find(req.id);
  if (!p) {
    reply_error(c, err::kNotFound, "unknown process: " + req.id);
    return;
  }
  if (req.op == Request::kWait) {
    c->state = Conn::kWaiting;
    c->proc = p;
    p->waiters.push_back(c);
    if (!p->running) on_exit(p, -1);  // answers the waiter at once
    return;
  }
  if (req.op == Request::kSignal) deliver_signal(p, req.signal);
  else resize(p, req.cols, req.rows);
  c->close_after_flush = true;
  c->state = Conn::kWaiting;
  queue(c, ok_reply(0));
}

void Loop::op_spawn(Conn* c, const SpawnRequest& req) {
  if (shutting_down_) return reply_error(c, err::kSpawnFailed, "init-d is shutting down");
  std::string id = req.id.empty() ? new_id() : req.id;
  if (find(id)) return reply_error(c, err::kExists, "process id already in use: " + id);
  if (procs_.size() >= kMaxProcesses) trim_exited();
  if (procs_.size() >= kMaxProcesses) return reply_error(c, err::kTooMany, "too many processes");

  SpawnPlan plan;
  std::string error;
  if (!resolve_user(req.user, plan.user, error)) return reply_error(c, err::kUserNotFound, error);
  plan.path = req.path;
  plan.argv.reserve(req.args.size() + 1);
  plan.argv.push_back(req.path);
  plan.argv.insert(plan.argv.end(), req.args.begin(), req.args.end());
  plan.env = default_env(req.env, plan.user);
  plan.dir = req.dir.empty() ? plan.user.home : req.dir;
  plan.rlimits = req.rlimits;
  plan.tty = req.tty;

  auto proc = std::make_unique<Process>(opts_.buffer + opts_.replay);
  Process* p = proc.get();
  p->id = id;
  p->tty = req.tty;
  p->direct = req.direct;
  int child_fds[3] = {-1, -1, -1};  // closed in the parent after fork
  int pass_fd = -1;                 // the pty master handed to a direct caller
  auto cleanup = [&] {
    for (int& fd : child_fds) close_fd(fd);
    close_fd(p->master);
    close_fd(p->stdin_fd);
    close_fd(p->out[0].fd);
    close_fd(p->out[1].fd);
  };
  auto sys_fail = [&](const char* what) {
    std::string msg = std::string(what) + ": " + std::strerror(errno);
    cleanup();
    reply_error(c, err::kSpawnFailed, msg);
  };

  if (req.tty) {
    p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0) return sys_fail("opening a pty");
    int slave = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return sys_fail("opening the pty's terminal");
    child_fds[0] = slave;
    child_fds[1] = dup(slave);
    child_fds[2] = dup(slave);
    if (req.cols && req.rows) set_winsize(p->master, req.cols, req.rows);
  } else if (req.direct) {
    if (c->fds.size() < 3) return reply_error(c, err::kBadRequest, "direct io needs three fds: stdin, stdout, stderr");
    for (int& fd : child_fds) fd = c->fds.front(), c->fds.pop_front();
  } else {
    int in[2], out[2], errp[2];
    if (pipe2(in, O_CLOEXEC) < 0) return sys_fail("pipe");
    child_fds[0] = in[0];
    p->stdin_fd = in[1];
    if (pipe2(out, O_CLOEXEC) < 0) return sys_fail("pipe");
    child_fds[1] = out[1];
    p->out[0].fd = out[0];
    if (pipe2(errp, O_CLOEXEC) < 0) return sys_fail("pipe");
    child_fds[2] = errp[1];
    p->out[1].fd = errp[0];
    // Bigger pipes: fewer wake-ups per byte (best effort, capped by pipe-max-size).
    fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
    fcntl(errp[0], F_SETPIPE_SZ, 256 << 10);
  }
  std::copy(child_fds, child_fds + 3, plan.stdio);

  SpawnError serr;
  pid_t pid = spawn_process(plan, serr);
  for (int& fd : child_fds) close_fd(fd);
  if (pid <= 0) {
    cleanup();
    return reply_error(c, serr.code, serr.message);
  }
  p->pid = pid;

  if (req.tty) {
    fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
    if (req.direct) {
      pass_fd = dup(p->master);
      // init-d keeps its own copy only to resize; the caller does the copying.
      p->out[0].eof = p->out[1].eof = true;
    } else {
      p->out[0].fd = dup(p->master);
      p->stdin_fd = dup(p->master);
      p->out[1].eof = true;
    }
  } else if (req.direct) {
    p->out[0].eof = p->out[1].eof = true;
  }
  for (int s = 0; s < 2; s++) {
    Stream& st = p->out[s];
    if (st.fd < 0) {
      st.eof = true;
      continue;
    }
    fcntl(st.fd, F_SETFL, fcntl(st.fd, F_GETFL) | O_NONBLOCK);
    st.watch.target = p;
    st.watch.stream = s + 1;
    st.reading = true;
    watch_fd(st.fd, &st.watch, EPOLLIN);
  }
  if (p->stdin_fd >= 0) {
    fcntl(p->stdin_fd, F_SETFL, fcntl(p->stdin_fd, F_GETFL) | O_NONBLOCK);
    p->stdin_watch.target = p;
    p->stdin_watched = false;  // watched only while there is something to write
  }
  by_pid_[pid] = p;
  procs_[id] = std::move(proc);

  std::string b = ok_reply(3);
  enc::str(b, "id");
  enc::str(b, id);
  enc::str(b, "pid");
  enc::uint(b, static_cast<uint64_t>(pid));
  enc::str(b, "tty");
  enc::boolean(b, p->tty);
  c->state = Conn::kAttached;
  c->proc = p;
  p->attached.push_back(c);
  queue(c, b, pass_fd);
}

void Loop::op_attach(Conn* c, const AttachRequest& req) {
  Process* p = find(req.id);
  if (!p) return reply_error(c, err::kNotFound, "unknown process: " + req.id);
  uint64_t from[2];
  const std::optional<uint64_t>* asked[2] = {&req.stdout_offset, &req.stderr_offset};
  for (int s = 0; s < 2; s++) {
    const Ring& r = p->out[s].ring;
    from[s] = asked[s]->value_or(p->out[s].delivered);
    if (from[s] < r.lo() || from[s] > r.end())
      return reply_error(c, err::kBadOffset,
                         std::string(s ? "stderr" : "stdout") + " offset " + std::to_string(from[s]) +
                             " is outside the kept range " + std::to_string(r.lo()) + "-" +
                             std::to_string(r.end()));
  }
  if (req.sink) {
    if (c->fds.empty()) return reply_error(c, err::kBadRequest, "a sink attachment needs the fd to write into");
    c->sink_fd = c->fds.front();
    c->fds.pop_front();
    fcntl(c->sink_fd, F_SETFL, fcntl(c->sink_fd, F_GETFL) | O_NONBLOCK);
    c->sink_stream = req.sink;
    c->wants[0] = req.sink == 1;
    c->wants[1] = req.sink == 2;
  }
  std::string b = ok_reply(3);
  enc::str(b, "id");
  enc::str(b, p->id);
  enc::str(b, "pid");
  enc::uint(b, static_cast<uint64_t>(p->pid));
  enc::str(b, "tty");
  enc::boolean(b, p->tty);
  c->state = Conn::kAttached;
  c->proc = p;
  c->cursor[0] = from[0];
  c->cursor[1] = from[1];
  p->attached.push_back(c);
  queue(c, b);
}

void Loop::op_list(Conn* c) {
  std::string b = ok_reply(1);
  enc::str(b, "procs");
  enc::array(b, static_cast<uint32_t>(procs_.size()));
  for (const auto& kv : procs_) {
    const Process& p = *kv.second;
    enc::map(b, p.running ? 4 : 5);
    enc::str(b, "id");
    enc::str(b, p.id);
    enc::str(b, "pid");
    enc::uint(b, static_cast<uint64_t>(p.pid));
    enc::str(b, "tty");
    enc::boolean(b, p.tty);
    enc::str(b, "running");
    enc::boolean(b, p.running);
    if (!p.running) {
      enc::str(b, "code");
      enc::sint(b, p.code);
    }
  }
  c->close_after_flush = true;
  c->state = Conn::kWaiting;
  queue(c, b);
}

void Loop::op_stop(Conn* c, bool kill, int timeout_ms) {
  c->state = Conn::kStopping;
  stop_waiters_.push_back(c);
  stopping_ = true;
  signal_all(kill ? SIGKILL : SIGTERM);
  if (!kill) arm_timer(timeout_ms);
  check_stopped();
}

void Loop::handle_stream_message(Conn* c, const StreamMessage& msg) {
  Process* p = c->proc;
  if (!p) return;
  switch (msg.kind) {
    case StreamMessage::kStdin:
      if (p->stdin_fd < 0 || p->stdin_close) return;  // gone, or closing: like writing to a closed pipe
      p->stdin_buf.append(msg.data);
      write_stdin(p);
      return;
    case StreamMessage::kCloseStdin:
      if (p->stdin_fd < 0 || p->stdin_close) return;
      if (p->tty) p->stdin_buf.push_back('\x04');
      else p->stdin_close = true;
      write_stdin(p);
      return;
    case StreamMessage::kSignal: deliver_signal(p, msg.signal); return;
    case StreamMessage::kResize: resize(p, msg.cols, msg.rows); return;
    case StreamMessage::kMute: {
      int s = msg.stream - 1;
      if (!c->wants[s] || c->sink_stream) return;
      c->wants[s] = false;
      c->mute_ack[s] = true;  // answered in flush, after a frame being written
      after_progress(p);
      flush(c);
      return;
    }
  }
}

// ---------------------------------------------------------------- processes

void Loop::deliver_signal(Process* p, int sig) {
  if (p->running) kill(p->pid, sig);
}

void Loop::resize(Process* p, uint16_t cols, uint16_t rows) {
  if (p->master >= 0) set_winsize(p->master, cols, rows);
}

void Loop::on_stdin(Process* p) { write_stdin(p); }

void Loop::write_stdin(Process* p) {
  while (!p->stdin_buf.empty() && p->stdin_fd >= 0) {
    ssize_t w = write(p->stdin_fd, p->stdin_buf.data(), p->stdin_buf.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      p->stdin_buf.clear();  // EPIPE: the reader is gone, and so is what it would have read
      p->stdin_close = true;
      break;
    }
    p->stdin_buf.erase(0, static_cast<size_t>(w));
  }
  if (p->stdin_fd >= 0 && p->stdin_buf.empty() && p->stdin_close) {
    if (p->stdin_watched) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->stdin_fd, nullptr);
    close_fd(p->stdin_fd);
    p->stdin_watched = false;
  } else if (p->stdin_fd >= 0) {
    // EPOLLERR/EPOLLHUP are reported even with no events requested: a pipe
    // whose reader closed it would wake us forever. Watch only while writing.
    if (p->stdin_buf.empty()) {
      if (p->stdin_watched) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->stdin_fd, nullptr);
      p->stdin_watched = false;
    } else if (!p->stdin_watched) {
      watch_fd(p->stdin_fd, &p->stdin_watch, EPOLLOUT);
      p->stdin_watched = true;
    } else {
      modify_fd(p->stdin_fd, &p->stdin_watch, EPOLLOUT);
    }
  }
  // Connections paused on a full stdin buffer may read again.
  for (Conn* c : p->attached) update_conn_events(c);
}

void Loop::on_output(Process* p, int s) { read_output(p, s); }

void Loop::read_output(Process* p, int s) {
  Stream& st = p->out[s - 1];
  while (st.fd >= 0) {
    iovec iov[2];
    int n = st.ring.writable(iov, 16 * kReadChunk);
    if (n == 0) break;  // full: the process blocks until a client catches up
    ssize_t r = readv(st.fd, iov, n);
    if (r > 0) {
      st.ring.commit(static_cast<size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      // After the process has exited, an empty pipe means its output is over
      // (a background child still holding it does not hold the exit back).
      if (!p->running) close_output(p, s);
      break;
    }
    close_output(p, s);  // EOF, or EIO on a pty whose terminal side closed
  }
  // Paused streams leave the epoll set: EPOLLHUP would be reported even with
  // no events asked for, and wake us in a loop while the ring is full.
  bool want = st.fd >= 0 && st.ring.room() > 0;
  if (st.fd >= 0 && want != st.reading) {
    st.reading = want;
    if (want) watch_fd(st.fd, &st.watch, EPOLLIN);
    else epoll_ctl(epfd_, EPOLL_CTL_DEL, st.fd, nullptr);
  }
  for (Conn* c : std::vector<Conn*>(p->attached)) flush(c);
}

void Loop::close_output(Process* p, int s) {
  Stream& st = p->out[s - 1];
  if (st.fd >= 0) {
    if (st.reading) epoll_ctl(epfd_, EPOLL_CTL_DEL, st.fd, nullptr);
    close_fd(st.fd);
  }
  st.reading = false;
  st.eof = true;
  if (st.ring.size() == 0) st.ring.release(st.ring.end());  // frees the buffer of a stream that said nothing
}

// Bytes were delivered or a connection left: forget what nobody needs and
// read more if there is room again.
void Loop::after_progress(Process* p) {
  for (int s = 0; s < 2; s++) {
    Stream& st = p->out[s];
    uint64_t keep = st.delivered > opts_.replay ? st.delivered - opts_.replay : 0;
    for (Conn* c : p->attached)
      if (c->wants[s]) keep = std::min(keep, c->cursor[s]);
    st.ring.release(keep);
    if (st.fd >= 0 && !st.reading && st.ring.room() > 0) {
      st.reading = true;
      watch_fd(st.fd, &st.watch, EPOLLIN);
    }
  }
}

void Loop::reap() {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) continue;  // an orphan, or a child that failed before exec
    Process* p = it->second;
    by_pid_.erase(it);
    on_exit(p, status);
  }
  check_stopped();
}

// status < 0: already exited, just answer waiters.
void Loop::on_exit(Process* p, int status) {
  if (status >= 0) {
    p->running = false;
    p->code = exit_code(status);
    p->exited_seq = ++exit_seq_;
    if (p->tty && p->direct) close_fd(p->master);
    // Whatever the process wrote is in the pipes now: drain it.
    for (int s = 1; s <= 2; s++)
      if (p->out[s - 1].fd >= 0) read_output(p, s);
    if (p->stdin_fd >= 0) {
      if (p->stdin_watched) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->stdin_fd, nullptr);
      p->stdin_watched = false;
      close_fd(p->stdin_fd);
      p->stdin_buf.clear();
    }
  }
  std::string b = ok_reply(1);
  enc::str(b, "code");
  enc::sint(b, p->code);
  for (Conn* w : std::vector<Conn*>(p->waiters)) {
    w->close_after_flush = true;
    w->proc = nullptr;
    queue(w, b);
  }
  p->waiters.clear();
  for (Conn* c : std::vector<Conn*>(p->attached)) flush(c);
  trim_exited();
}

// Keeps exit codes of every exited process, but the replay bytes only of the
// most recent ones; past kMaxProcesses the oldest finished entries go.
void Loop::trim_exited() {
  std::vector<Process*> done;
  for (auto& kv : procs_)
    if (kv.second->finished() && kv.second->attached.empty()) done.push_back(kv.second.get());
  if (done.size() <= kMaxKeptOutputs) return;
  std::sort(done.begin(), done.end(), [](Process* a, Process* b) { return a->exited_seq < b->exited_seq; });
  size_t excess = done.size() - kMaxKeptOutputs;
  for (size_t k = 0; k < excess; k++)
    for (auto& st : done[k]->out) st.ring.release(st.ring.end());
  if (procs_.size() < kMaxProcesses) return;
  for (size_t k = 0; k < done.size() && procs_.size() >= kMaxProcesses; k++) {
    Process* p = done[k];
    if (!p->waiters.empty()) continue;
    close_fd(p->master);
    auto it = procs_.find(p->id);
    dead_procs_.push_back(std::move(it->second));
    procs_.erase(it);
  }
}

// ---------------------------------------------------------------- signals and stopping

void Loop::on_signals() {
  signalfd_siginfo si;
  while (read(sig_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    switch (si.ssi_signo) {
      case SIGCHLD: break;  // reaped below
      case SIGTERM:
      case SIGINT:
      case SIGQUIT:
        if (!shutting_down_) {
          shutting_down_ = true;
          log("stopping: signalling all processes%s", "");
          signal_all(SIGTERM);
          arm_timer(opts_.shutdown_timeout_ms);
        }
        break;
      default:
        // Forwarded as a tidy PID 1 does: to every process we started.
        for (auto& kv : procs_)
          if (kv.second->running) kill(kv.second->pid, static_cast<int>(si.ssi_signo));
        break;
    }
  }
  reap();
}

void Loop::signal_all(int sig) {
  if (pid1_) {
    kill(-1, sig);  // everything in our PID namespace but us
    return;
  }
  for (auto& kv : procs_)
    if (kv.second->running) kill(-kv.second->pid, sig), kill(kv.second->pid, sig);
}

void Loop::arm_timer(int ms) {
  itimerspec its{};
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  timerfd_settime(timer_fd_, 0, &its, nullptr);
}

void Loop::on_timer() {
  uint64_t expirations;
  if (read(timer_fd_, &expirations, sizeof expirations) < 0) return;
  if (stopping_ || shutting_down_) signal_all(SIGKILL);
}

bool Loop::no_children() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

void Loop::check_stopped() {
  if (!stopping_) return;
  bool any_running = false;
  for (auto& kv : procs_) any_running |= kv.second->running;
  if (any_running || (pid1_ && !no_children())) return;
  stopping_ = false;
  itimerspec off{};
  if (!shutting_down_) timerfd_settime(timer_fd_, 0, &off, nullptr);
  for (Conn* c : std::vector<Conn*>(stop_waiters_)) {
    c->close_after_flush = true;
    c->state = Conn::kWaiting;
    queue(c, ok_reply(0));
  }
  stop_waiters_.clear();
}

}  // namespace initd
