// keepHeap: how much freed memory glibc's malloc keeps instead of returning it.
//
// Streaming output, Node reads every socket into fresh buffers (64 KiB, or
// our 256 KiB slabs) and frees them only when V8 collects, some tens of MiB
// at a time. With glibc's defaults, buffers above 128 KiB are mmap'd and
// unmapped one by one, and the freed heap top is trimmed after each GC, so
// the next reads fault the same memory in again, page by page. On a VM a
// page fault costs more than the bytes it holds: it halves throughput or
// worse. Keeping what one GC cycle frees avoids that.
#include <cstdlib>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "addon/common.h"

namespace garden {

namespace {

Napi::Value KeepHeap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int bytes[3];
  for (size_t i = 0; i < 3; i++) {
    if (info.Length() < 3 || !info[i].IsNumber()) {
      Napi::TypeError::New(env, "keepHeap(trimThreshold, topPad, mmapThreshold): three byte counts")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= (1 << 30))) {
      Napi::RangeError::New(env, "keepHeap: byte counts must be within 0..1 GiB").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bytes[i] = static_cast<int>(v);
  }
#if defined(__GLIBC__)
  bool ok = mallopt(M_TRIM_THRESHOLD, bytes[0]) == 1 && mallopt(M_TOP_PAD, bytes[1]) == 1 &&
            mallopt(M_MMAP_THRESHOLD, bytes[2]) == 1;
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
