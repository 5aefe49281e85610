// Shared helpers of the garden addon: errno errors, argument checks, the
// per-environment state that owns every libuv handle the addon opens, and a
// scope for settling promises from libuv callbacks.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace garden {

// Something that owns libuv handles and must close them when the Node
// environment goes away (worker exit, process exit). Teardown() must not call
// into JS or Node-API; it closes its handles and eventually calls
// State::Release(this) from the last close callback.
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void Teardown() = 0;
};

class FdWatcher;

// One per Node environment (main thread or worker).
struct State {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  napi_async_context async_context = nullptr;
  napi_ref async_resource = nullptr;
  std::unordered_set<Closable*> live;            // every object owning a handle
  std::unordered_map<int, FdWatcher*> watchers;  // fd -> its poll watcher
  std::string scratch;                           // receive buffer, reused
  napi_async_cleanup_hook_handle cleanup_hook = nullptr;
  bool tearing_down = false;

  void Adopt(Closable* c) { live.insert(c); }
  // Called by a Closable once its last handle is closed; deletes it.
  void Release(Closable* c);
};

State* GetState(napi_env env);

// Opens a handle scope and a callback scope so that promises settled from a
// libuv callback run their reactions (microtasks, nextTick) when it closes.
class JsScope {
 public:
  explicit JsScope(State* st);
  ~JsScope();
  JsScope(const JsScope&) = delete;
  JsScope& operator=(const JsScope&) = delete;

 private:
  State* st_;
  napi_handle_scope handles_ = nullptr;
  napi_callback_scope callback_ = nullptr;
};

// "ENOENT", "EAGAIN", ... ("E123" for an unknown number).
std::string ErrnoName(int err);

// An Error like Node's own system errors:
//   message "ENOENT: no such file or directory, connect '/x'",
//   code "ENOENT", errno -2, syscall "connect", path "/x" (when given).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string* path = nullptr);

// Throws ErrnoError(...) and returns undefined, for `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall,
                       const std::string* path = nullptr);
Napi::Value ThrowType(Napi::Env env, const std::string& message);

// Argument helpers; on failure they throw a TypeError/RangeError and return
// false.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name,
            int64_t min, int64_t max, int64_t* out);
bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd);
bool ValueInt(Napi::Env env, Napi::Value v, const char* name, int64_t min,
              int64_t max, int64_t* out);
// A JS string without NUL bytes (it becomes a C string).
bool ValueCString(Napi::Env env, Napi::Value v, const char* name,
                  std::string* out);

// Closes fd, retrying nothing (Linux always releases the fd, even on EINTR).
void CloseQuietly(int fd);

// Module parts; each adds its functions to exports.
void InitFdpass(Napi::Env env, Napi::Object exports);
void InitPty(Napi::Env env, Napi::Object exports);
void InitNsspawn(Napi::Env env, Napi::Object exports);
void InitHeap(Napi::Env env, Napi::Object exports);

// Used by closeFd: rejects the fd's pending sendFds/recvFds with ECANCELED
// and stops polling it, so the fd can be closed safely.
void CancelFd(State* st, int fd);

}  // namespace garden
