// Pseudo-terminals: open a pair, set and get the window size.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "addon/common.h"

namespace garden {

namespace {

bool ArgSize(const Napi::CallbackInfo& info, size_t i, const char* name,
             unsigned short* out) {
  int64_t v;
  if (!ArgInt(info, i, name, 0, 65535, &v)) return false;
  *out = static_cast<unsigned short>(v);
  return true;
}

int SetSize(int fd, unsigned short cols, unsigned short rows) {
  winsize ws = {};
  ws.ws_col = cols;
  ws.ws_row = rows;
  return ioctl(fd, TIOCSWINSZ, &ws);
}

// openpty(cols?, rows?): {master, slave, slaveName} — both ends CLOEXEC and
// blocking, neither becomes our controlling terminal. Without a size the
// kernel's default (0x0) stays.
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool sized = !info[0].IsUndefined() || !info[1].IsUndefined();
  unsigned short cols = 0, rows = 0;
  if (sized &&
      (!ArgSize(info, 0, "cols", &cols) || !ArgSize(info, 1, "rows", &rows)))
    return env.Undefined();

  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return ThrowErrno(env, errno, "posix_openpt");
  char name[128];
  if (grantpt(master) < 0) {
    int err = errno;
    CloseQuietly(master);
    return ThrowErrno(env, err, "grantpt");
  }
  if (unlockpt(master) < 0) {
    int err = errno;
    CloseQuietly(master);
    return ThrowErrno(env, err, "unlockpt");
  }
  int err = ptsname_r(master, name, sizeof name);
  if (err != 0) {
    CloseQuietly(master);
    return ThrowErrno(env, err, "ptsname_r");
  }
  // TIOCGPTPEER opens the peer without a path lookup (Linux >= 4.13); fall
  // back to the name.
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    err = errno;
    CloseQuietly(master);
    std::string path(name);
    return ThrowErrno(env, err, "open", &path);
  }
  if (sized && SetSize(master, cols, rows) < 0) {
    err = errno;
    CloseQuietly(master);
    CloseQuietly(slave);
    return ThrowErrno(env, err, "ioctl");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("master", Napi::Number::New(env, master));
  out.Set("slave", Napi::Number::New(env, slave));
  out.Set("slaveName", Napi::String::New(env, name));
  return out;
}

// setWinsize(fd, cols, rows) — TIOCSWINSZ (the foreground group gets
// SIGWINCH from the kernel).
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  unsigned short cols, rows;
  if (!ArgFd(info, 0, &fd) || !ArgSize(info, 1, "cols", &cols) ||
      !ArgSize(info, 2, "rows", &rows))
    return env.Undefined();
  if (SetSize(fd, cols, rows) < 0) return ThrowErrno(env, errno, "ioctl");
  return env.Undefined();
}

// getWinsize(fd): {cols, rows} — TIOCGWINSZ.
Napi::Value GetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  winsize ws = {};
  if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return ThrowErrno(env, errno, "ioctl");
  Napi::Object out = Napi::Object::New(env);
  out.Set("cols", Napi::Number::New(env, ws.ws_col));
  out.Set("rows", Napi::Number::New(env, ws.ws_row));
  return out;
}

}  // namespace

void InitPty(Napi::Env env, Napi::Object exports) {
  exports.Set("openpty", Napi::Function::New(env, OpenPty, "openpty"));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize, "setWinsize"));
  exports.Set("getWinsize", Napi::Function::New(env, GetWinsize, "getWinsize"));
}

}  // namespace garden
