// Splits a byte stream into frames: a 4-byte big-endian length, then one
// msgpack map of that many bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "initd/msgpack.h"

namespace initd {

class FrameReader {
 public:
  enum Result { kNeedMore, kFrame, kBad };

  // Appends bytes received from the peer.
  void feed(const char* data, size_t len) { buf_.append(data, len); }

  // Takes the next whole frame into `out` (valid until the next call).
  // kBad means the stream is unusable: the connection must be closed.
  Result next(Value& out);

  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  std::string frame_;  // keeps the current frame's bytes alive for `out`
};

// Prepends the 4-byte length to an encoded map.
std::string frame(std::string_view body);
void frame_header(char out[4], size_t body_len);

}  // namespace initd
