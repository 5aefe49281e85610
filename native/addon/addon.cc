// The garden Node-API addon: module init, per-environment state, errors.
//
// The addon exposes primitives only (fd passing, pty ioctls, namespace-entry
// spawn); every policy lives in src/initd/native.ts.
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <vector>

#include "addon/common.h"

namespace garden {

namespace {

void MaybeFinishTeardown(State* st) {
  if (!st->tearing_down || !st->live.empty() || st->cleanup_hook == nullptr)
    return;
  napi_async_cleanup_hook_handle hook = st->cleanup_hook;
  delete st;
  napi_remove_async_cleanup_hook(hook);
}

// Runs when the environment is torn down: close every handle we own. Node
// keeps the loop running until napi_remove_async_cleanup_hook is called.
void AsyncCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  State* st = static_cast<State*>(arg);
  st->cleanup_hook = hook;
  st->tearing_down = true;
  std::vector<Closable*> all(st->live.begin(), st->live.end());
  for (Closable* c : all) c->Teardown();
  MaybeFinishTeardown(st);
}

}  // namespace

void State::Release(Closable* c) {
  live.erase(c);
  delete c;
  MaybeFinishTeardown(this);
}

State* GetState(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<State*>(data);
}

JsScope::JsScope(State* st) : st_(st) {
  napi_open_handle_scope(st->env, &handles_);
  napi_value resource = nullptr;
  napi_get_reference_value(st->env, st->async_resource, &resource);
  napi_open_callback_scope(st->env, resource, st->async_context, &callback_);
}

JsScope::~JsScope() {
  // Closing the callback scope runs nextTicks and microtasks: promise
  // reactions of whatever was settled inside it.
  if (callback_ != nullptr) napi_close_callback_scope(st_->env, callback_);
  if (handles_ != nullptr) napi_close_handle_scope(st_->env, handles_);
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string* path) {
  std::string code = ErrnoName(err);
  // Worded like Node's own: "ENOENT: no such file or directory, open '/x'".
  std::string text = strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z'))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  std::string message = code + ": " + text + ", " + syscall;
  if (path != nullptr) message += " '" + *path + "'";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) e.Set("path", Napi::String::New(env, *path));
  return e;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall,
                       const std::string* path) {
  ErrnoError(env, err, syscall, path).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ValueInt(Napi::Env env, Napi::Value v, const char* name, int64_t min,
              int64_t max, int64_t* out) {
  if (!v.IsNumber()) {
    ThrowType(env, std::string(name) + " must be a number");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    Napi::RangeError::New(env, std::string(name) + " must be an integer in [" +
                                   std::to_string(min) + ", " +
                                   std::to_string(max) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name,
            int64_t min, int64_t max, int64_t* out) {
  return ValueInt(info.Env(), info[i], name, min, max, out);
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  int64_t v = 0;
  if (!ArgInt(info, i, "fd", 0, INT32_MAX, &v)) return false;
  *fd = static_cast<int>(v);
  return true;
}

bool ValueCString(Napi::Env env, Napi::Value v, const char* name,
                  std::string* out) {
  if (!v.IsString()) {
    ThrowType(env, std::string(name) + " must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowType(env, std::string(name) + " must not contain NUL bytes");
    return false;
  }
  return true;
}

void CloseQuietly(int fd) {
  if (fd >= 0) close(fd);
}

namespace {

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  State* st = new State();
  st->env = env;
  if (napi_get_uv_event_loop(env, &st->loop) != napi_ok) {
    delete st;
    Napi::Error::New(env, "garden_addon: no libuv loop")
        .ThrowAsJavaScriptException();
    return exports;
  }
  Napi::Object resource = Napi::Object::New(env);
  napi_create_reference(env, resource, 1, &st->async_resource);
  napi_async_init(env, resource, Napi::String::New(env, "garden_addon"),
                  &st->async_context);
  napi_set_instance_data(env, st, nullptr, nullptr);
  napi_add_async_cleanup_hook(env, AsyncCleanup, st, nullptr);

  InitFdpass(env, exports);
  InitPty(env, exports);
  InitNsspawn(env, exports);
  InitHeap(env, exports);
  return exports;
}

}  // namespace

}  // namespace garden

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return garden::InitModule(env, exports);
}

NODE_API_MODULE(garden_addon, Init)
