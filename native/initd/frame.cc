#include "initd/frame.h"

#include "common/protocol.h"

namespace initd {

FrameReader::Result FrameReader::next(Value& out) {
  if (buffered() < 4) {
    if (pos_ == buf_.size()) buf_.clear(), pos_ = 0;
    return kNeedMore;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  uint32_t len = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  if (len == 0 || len > kMaxFrame) return kBad;
  if (buffered() - 4 < len) return kNeedMore;
  frame_.assign(buf_, pos_ + 4, len);
  pos_ += 4 + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (64u << 10)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (!decode(frame_.data(), frame_.size(), out) || out.type != Value::Map) return kBad;
  return kFrame;
}

void frame_header(char out[4], size_t body_len) {
  out[0] = static_cast<char>((body_len >> 24) & 0xff);
  out[1] = static_cast<char>((body_len >> 16) & 0xff);
  out[2] = static_cast<char>((body_len >> 8) & 0xff);
  out[3] = static_cast<char>(body_len & 0xff);
}

std::string frame(std::string_view body) {
  std::string out(4, '\0');
  frame_header(out.data(), body.size());
  out.append(body);
  return out;
}

}  // namespace initd
