// Unix sockets and fd passing (SCM_RIGHTS) without blocking the event loop.
//
// sendFds/recvFds try the syscall at once (MSG_DONTWAIT, so the fd's own
// blocking mode does not matter) and only when it would block do they queue
// the operation on a per-fd watcher: one uv_poll_t per fd that polls for
// writability while sends are queued and readability while receives are
// queued, and is closed as soon as both queues are empty. Sends on one fd
// complete in call order, and so do receives.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "addon/common.h"

namespace garden {

namespace {

constexpr size_t kMaxFds = 253;           // SCM_MAX_FD
constexpr int64_t kMaxRecvBytes = 1 << 26;  // 64 MiB per recvFds

union ControlBuffer {
  char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
  cmsghdr align;
};

struct SendOp {
  napi_deferred deferred = nullptr;
  napi_ref buffer = nullptr;  // keeps the data alive while queued
  const char* data = nullptr;
  size_t len = 0;
  size_t off = 0;
  std::vector<int> fds;  // our CLOEXEC dups, attached to the first sendmsg
  bool fds_sent = false;

  void CloseFds() {
    for (int fd : fds) CloseQuietly(fd);
    fds.clear();
  }
};

struct RecvOp {
  napi_deferred deferred = nullptr;
  size_t max_bytes = 0;
  size_t max_fds = 0;
};

// Writes data[*off..len) with sendmsg until done (returns 0), it would block
// (EAGAIN) or fails (errno). The fds ride on the first sendmsg that moves a
// byte.
int SendSome(int fd, const char* data, size_t len, size_t* off,
             const int* fds, size_t nfds, bool* fds_sent) {
  while (*off < len) {
    iovec iov;
    iov.iov_base = const_cast<char*>(data + *off);
    iov.iov_len = len - *off;
    msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ControlBuffer control;
    if (!*fds_sent && nfds > 0) {
      memset(&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EWOULDBLOCK ? EAGAIN : errno;
    }
    *fds_sent = true;
    *off += static_cast<size_t>(n);
  }
  return 0;
}

// One recvmsg into st->scratch. Returns 0 (with *n bytes, 0 = EOF, and the
// received fds), EAGAIN, or an errno (EMSGSIZE when fds were truncated; the
// fds that did arrive are closed).
int RecvOnce(State* st, int fd, size_t max_bytes, size_t max_fds, size_t* n,
             std::vector<int>* fds) {
  if (st->scratch.size() < max_bytes) st->scratch.resize(max_bytes);
  for (;;) {
    iovec iov;
    iov.iov_base = &st->scratch[0];
    iov.iov_len = max_bytes;
    msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ControlBuffer control;
    if (max_fds > 0) {
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
    }
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno == EWOULDBLOCK ? EAGAIN : errno;
    }
    fds->clear();
    if (msg.msg_controllen > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
           c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char* p = CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
          int got;
          memcpy(&got, p + i * sizeof(int), sizeof(int));
          fds->push_back(got);
        }
      }
    }
    // The control buffer is rounded up for alignment and may hold one fd more
    // than asked: treat that like truncation too.
    if ((msg.msg_flags & MSG_CTRUNC) || fds->size() > max_fds) {
      for (int got : *fds) CloseQuietly(got);
      fds->clear();
      return EMSGSIZE;
    }
    *n = static_cast<size_t>(r);
    return 0;
  }
}

void Resolve(napi_env env, napi_deferred d, napi_value v) {
  napi_resolve_deferred(env, d, v);
}

void Reject(napi_env env, napi_deferred d, int err, const char* syscall) {
  Napi::Env e(env);
  napi_reject_deferred(env, d, ErrnoError(e, err, syscall).Value());
}

void SettleSend(napi_env env, SendOp* op, int err) {
  if (err == 0) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    Resolve(env, op->deferred, undefined);
  } else {
    Reject(env, op->deferred, err, "sendmsg");
  }
  op->CloseFds();
  if (op->buffer != nullptr) napi_delete_reference(env, op->buffer);
  delete op;
}

napi_value RecvResult(napi_env env, const char* data, size_t n,
                      const std::vector<int>& fds) {
  Napi::Env e(env);
  Napi::Object result = Napi::Object::New(e);
  result.Set("data", Napi::Buffer<char>::Copy(e, data, n));
  Napi::Array list = Napi::Array::New(e, fds.size());
  for (size_t i = 0; i < fds.size(); i++)
    list.Set(static_cast<uint32_t>(i), Napi::Number::New(e, fds[i]));
  result.Set("fds", list);
  return result;
}

void SettleRecv(State* st, napi_deferred d, int err, size_t n,
                const std::vector<int>& fds) {
  if (err == 0)
    Resolve(st->env, d, RecvResult(st->env, st->scratch.data(), n, fds));
  else
    Reject(st->env, d, err, "recvmsg");
}

}  // namespace

class FdWatcher : public Closable {
 public:
  // The fd's watcher, created (and registered in st->watchers) when missing.
  // Returns nullptr with *err (an errno) when libuv refuses the fd.
  static FdWatcher* Ensure(State* st, int fd, int* err) {
    auto it = st->watchers.find(fd);
    if (it != st->watchers.end()) return it->second;
    FdWatcher* w = new FdWatcher(st, fd);
    int r = uv_poll_init(st->loop, &w->poll_, fd);
    if (r < 0) {
      delete w;
      *err = -r;
      return nullptr;
    }
    st->Adopt(w);
    st->watchers[fd] = w;
    return w;
  }

  static FdWatcher* Find(State* st, int fd) {
    auto it = st->watchers.find(fd);
    return it == st->watchers.end() ? nullptr : it->second;
  }

  std::deque<SendOp*> sends;
  std::deque<RecvOp*> recvs;

  // Polls for what the queues need; closes the watcher when they are empty.
  // Needs a JS context (it may reject).
  void Update() {
    if (closing_) return;
    int events = (sends.empty() ? 0 : UV_WRITABLE) |
                 (recvs.empty() ? 0 : UV_READABLE);
    if (events == 0) {
      Close();
      return;
    }
    if (events == events_) return;
    int r = uv_poll_start(&poll_, events, OnPoll);
    if (r < 0) {
      FailAll(-r, "uv_poll_start");
      return;
    }
    events_ = events;
  }

  // Rejects every queued operation with err and closes the watcher. Needs a
  // JS context.
  void FailAll(int err, const char* syscall) {
    napi_env env = st_->env;
    std::deque<SendOp*> s;
    std::deque<RecvOp*> r;
    s.swap(sends);
    r.swap(recvs);
    Close();
    for (SendOp* op : s) {
      Reject(env, op->deferred, err, syscall ? syscall : "sendmsg");
      op->deferred = nullptr;
      op->CloseFds();
      if (op->buffer != nullptr) napi_delete_reference(env, op->buffer);
      delete op;
    }
    for (RecvOp* op : r) {
      Reject(env, op->deferred, err, syscall ? syscall : "recvmsg");
      delete op;
    }
  }

  void Teardown() override {
    // No JS here: drop the operations (their promises never settle; the
    // environment is going away) and close the handle.
    for (SendOp* op : sends) {
      op->CloseFds();
      delete op;
    }
    for (RecvOp* op : recvs) delete op;
    sends.clear();
    recvs.clear();
    Close();
  }

 private:
  FdWatcher(State* st, int fd) : st_(st), fd_(fd) { poll_.data = this; }

  void Close() {
    if (closing_) return;
    closing_ = true;
    auto it = st_->watchers.find(fd_);
    if (it != st_->watchers.end() && it->second == this) st_->watchers.erase(it);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClose);
  }

  static void OnClose(uv_handle_t* h) {
    FdWatcher* w = static_cast<FdWatcher*>(h->data);
    w->st_->Release(w);
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    FdWatcher* w = static_cast<FdWatcher*>(h->data);
    State* st = w->st_;
    JsScope scope(st);  // reactions run when it closes, after all of this
    if (status < 0) {
      w->FailAll(-status, nullptr);
      return;
    }
    if (events & UV_WRITABLE) w->DrainSends();
    if (events & UV_READABLE) w->DrainRecvs();
    w->Update();
  }

  void DrainSends() {
    while (!sends.empty()) {
      SendOp* op = sends.front();
      int err = SendSome(fd_, op->data, op->len, &op->off, op->fds.data(),
                         op->fds.size(), &op->fds_sent);
      if (err == EAGAIN) return;
      sends.pop_front();
      SettleSend(st_->env, op, err);
    }
  }

  void DrainRecvs() {
    std::vector<int> fds;
    while (!recvs.empty()) {
      RecvOp* op = recvs.front();
      size_t n = 0;
      int err = RecvOnce(st_, fd_, op->max_bytes, op->max_fds, &n, &fds);
      if (err == EAGAIN) return;
      recvs.pop_front();
      SettleRecv(st_, op->deferred, err, n, fds);
      delete op;
    }
  }

  State* st_;
  int fd_;
  uv_poll_t poll_;
  int events_ = 0;
  bool closing_ = false;
};

void CancelFd(State* st, int fd) {
  FdWatcher* w = FdWatcher::Find(st, fd);
  if (w != nullptr) w->FailAll(ECANCELED, nullptr);
}

namespace {

Napi::Value Promise(napi_env env, napi_deferred* d) {
  napi_value promise;
  napi_create_promise(env, d, &promise);
  return Napi::Value(env, promise);
}

// sendFds(fd, data: Uint8Array, fds: number[]): Promise<void>
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  if (!info[1].IsTypedArray()) return ThrowType(env, "data must be a Buffer");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  const char* data =
      static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t len = ta.ByteLength();
  if (!info[2].IsArray()) return ThrowType(env, "fds must be an array");
  Napi::Array list = info[2].As<Napi::Array>();
  if (list.Length() > kMaxFds)
    return ThrowType(env, "at most 253 fds can be sent at once");
  std::vector<int> fds;
  for (uint32_t i = 0; i < list.Length(); i++) {
    int64_t v;
    if (!ValueInt(env, list.Get(i), "fds[i]", 0, INT32_MAX, &v))
      return env.Undefined();
    fds.push_back(static_cast<int>(v));
  }
  if (len == 0 && !fds.empty())
    return ThrowType(env, "data must not be empty when passing fds");

  State* st = GetState(env);
  napi_deferred d;
  Napi::Value promise = Promise(env, &d);
  size_t off = 0;
  bool fds_sent = fds.empty();
  FdWatcher* w = FdWatcher::Find(st, fd);
  if (w == nullptr || w->sends.empty()) {
    int err = SendSome(fd, data, len, &off, fds.data(), fds.size(), &fds_sent);
    if (err != EAGAIN) {
      SendOp* done = new SendOp();
      done->deferred = d;
      SettleSend(env, done, err);
      return promise;
    }
  }
  // Queue it. The fds are dup'ed so the caller may close its own at once.
  SendOp* op = new SendOp();
  op->deferred = d;
  op->data = data;
  op->len = len;
  op->off = off;
  op->fds_sent = fds_sent;
  if (!fds_sent) {
    for (int f : fds) {
      int dup = fcntl(f, F_DUPFD_CLOEXEC, 3);
      if (dup < 0) {
        int err = errno;
        op->CloseFds();
        Reject(env, d, err, "fcntl");
        delete op;
        return promise;
      }
      op->fds.push_back(dup);
    }
  }
  napi_create_reference(env, info[1], 1, &op->buffer);
  int err = 0;
  w = FdWatcher::Ensure(st, fd, &err);
  if (w == nullptr) {
    Reject(env, d, err, "uv_poll_init");
    op->deferred = nullptr;
    op->CloseFds();
    napi_delete_reference(env, op->buffer);
    delete op;
    return promise;
  }
  w->sends.push_back(op);
  w->Update();
  return promise;
}

// recvFds(fd, maxBytes, maxFds): Promise<{data: Buffer, fds: number[]}>
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t max_bytes, max_fds;
  if (!ArgFd(info, 0, &fd) ||
      !ArgInt(info, 1, "maxBytes", 1, kMaxRecvBytes, &max_bytes) ||
      !ArgInt(info, 2, "maxFds", 0, kMaxFds, &max_fds))
    return env.Undefined();
  State* st = GetState(env);
  napi_deferred d;
  Napi::Value promise = Promise(env, &d);
  FdWatcher* w = FdWatcher::Find(st, fd);
  if (w == nullptr || w->recvs.empty()) {
    size_t n = 0;
    std::vector<int> fds;
    int err = RecvOnce(st, fd, static_cast<size_t>(max_bytes),
                       static_cast<size_t>(max_fds), &n, &fds);
    if (err != EAGAIN) {
      SettleRecv(st, d, err, n, fds);
      return promise;
    }
  }
  int err = 0;
  w = FdWatcher::Ensure(st, fd, &err);
  if (w == nullptr) {
    Reject(env, d, err, "uv_poll_init");
    return promise;
  }
  RecvOp* op = new RecvOp();
  op->deferred = d;
  op->max_bytes = static_cast<size_t>(max_bytes);
  op->max_fds = static_cast<size_t>(max_fds);
  w->recvs.push_back(op);
  w->Update();
  return promise;
}

// connectUnix(path): number — one non-blocking connect attempt (EAGAIN when
// the listener's backlog is full; the caller retries).
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ValueCString(env, info[0], "path", &path)) return env.Undefined();
  sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return ThrowErrno(env, path.empty() ? ENOENT : ENAMETOOLONG, "connect",
                      &path);
  memcpy(addr.sun_path, path.data(), path.size());
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return ThrowErrno(env, errno, "socket");
  int r;
  do {
    r = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int err = errno == EWOULDBLOCK ? EAGAIN : errno;
    CloseQuietly(s);
    return ThrowErrno(env, err, "connect", &path);
  }
  return Napi::Number::New(env, s);
}

Napi::Value Pair(Napi::Env env, int a, int b) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, a));
  out.Set(1u, Napi::Number::New(env, b));
  return out;
}

// socketpair(): [number, number] — AF_UNIX, SOCK_STREAM, CLOEXEC, blocking.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return ThrowErrno(info.Env(), errno, "socketpair");
  return Pair(info.Env(), sv[0], sv[1]);
}

// pipe(): [read, write] — CLOEXEC, blocking.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return ThrowErrno(info.Env(), errno, "pipe2");
  return Pair(info.Env(), p[0], p[1]);
}

// setNonBlocking(fd, on)
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  if (!info[1].IsBoolean()) return ThrowType(env, "on must be a boolean");
  bool on = info[1].As<Napi::Boolean>().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ThrowErrno(env, errno, "fcntl");
  int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && fcntl(fd, F_SETFL, want) < 0)
    return ThrowErrno(env, errno, "fcntl");
  return env.Undefined();
}

// setPipeSize(fd, bytes): number — the size the kernel granted.
Napi::Value SetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t bytes;
  if (!ArgFd(info, 0, &fd) || !ArgInt(info, 1, "bytes", 1, INT32_MAX, &bytes))
    return env.Undefined();
  int r = fcntl(fd, F_SETPIPE_SZ, static_cast<int>(bytes));
  if (r < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, r);
}

// closeFd(fd) — rejects the fd's queued sendFds/recvFds with ECANCELED first.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  CancelFd(GetState(env), fd);
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

}  // namespace

void InitFdpass(Napi::Env env, Napi::Object exports) {
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setNonBlocking",
              Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("setPipeSize", Napi::Function::New(env, SetPipeSize, "setPipeSize"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace garden
