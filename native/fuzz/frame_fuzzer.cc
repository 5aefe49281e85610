// libFuzzer target: init-d's whole input path — frame splitting, msgpack
// decoding and request validation — on arbitrary bytes fed in arbitrary
// chunks. Anything but a clean accept or reject is a bug (sanitizers on).
#include <cstddef>
#include <cstdint>
#include <string>

#include "initd/frame.h"
#include "initd/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size, as the socket would split the stream.
  size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  initd::FrameReader reader;
  bool attached = false;
  while (left > 0) {
    size_t n = chunk < left ? chunk : left;
    reader.feed(p, n);
    p += n;
    left -= n;
    initd::Value frame;
    for (;;) {
      auto r = reader.next(frame);
      if (r != initd::FrameReader::kFrame) {
        if (r == initd::FrameReader::kBad) return 0;  // init-d closes the connection
        break;
      }
      std::string error;
      if (!attached) {
        initd::Request req;
        attached = initd::parse_request(frame, req, error);
      } else {
        initd::StreamMessage msg;
        initd::parse_stream_message(frame, msg, error);
      }
    }
  }
  return 0;
}
