// keepHeap: how much freed memory glibc's malloc keeps instead of returning it.
//
// Node reads every socket and pipe into a fresh 64 KiB buffer from malloc.
// With glibc's defaults (trim above 128 KiB, no top pad) the heap top is
// handed back to the kernel after each GC and faulted in again by the next
// reads, so a stream of output costs a page fault every 4 KiB; on a VM that
// halves Node's read throughput. Keeping a few MiB removes that cost.
#include <cstdlib>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "addon/common.h"

namespace garden {

namespace {

Napi::Value KeepHeap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "keepHeap(trimThreshold, topPad): two byte counts")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double trim = info[0].As<Napi::Number>().DoubleValue();
  double pad = info[1].As<Napi::Number>().DoubleValue();
  if (!(trim >= 0 && trim <= (1 << 30) && pad >= 0 && pad <= (1 << 30))) {
    Napi::RangeError::New(env, "keepHeap: byte counts must be within 0..1 GiB")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if defined(__GLIBC__)
  bool ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim)) == 1 &&
            mallopt(M_TOP_PAD, static_cast<int>(pad)) == 1;
  return Napi::Boolean::New(env, ok);
#else
  return Napi::Boolean::New(env, false);  // another libc: nothing to tune
#endif
}

}  // namespace

void InitHeap(Napi::Env env, Napi::Object exports) {
  exports.Set("keepHeap", Napi::Function::New(env, KeepHeap, "keepHeap"));
}

}  // namespace garden
