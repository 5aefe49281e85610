#include "initd/msgpack.h"

#include <cstring>

#include "common/protocol.h"

namespace initd {

const Value* Value::get(std::string_view key) const {
  if (type != Map) return nullptr;
  for (const auto& kv : map)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

class Reader {
 public:
  Reader(const char* data, size_t len) : p_(reinterpret_cast<const uint8_t*>(data)), end_(p_ + len) {}

  bool value(Value& v, size_t depth) {
    if (depth > kMaxDepth) return false;
    uint8_t tag;
    if (!byte(tag)) return false;
    if (tag <= 0x7f) return set_uint(v, tag);
    if (tag >= 0xe0) return set_int(v, static_cast<int8_t>(tag));
    if ((tag & 0xf0) == 0x80) return read_map(v, tag & 0x0f, depth);
    if ((tag & 0xf0) == 0x90) return read_array(v, tag & 0x0f, depth);
    if ((tag & 0xe0) == 0xa0) return read_bytes(v, Value::Str, tag & 0x1f);
    uint64_t n = 0;
    switch (tag) {
      case 0xc0: v.type = Value::Nil; return true;
      case 0xc2: v.type = Value::Bool; v.b = false; return true;
      case 0xc3: v.type = Value::Bool; v.b = true; return true;
      case 0xc4: return be(1, n) && read_bytes(v, Value::Bin, n);
      case 0xc5: return be(2, n) && read_bytes(v, Value::Bin, n);
      case 0xc6: return be(4, n) && read_bytes(v, Value::Bin, n);
      case 0xca: {
        if (!be(4, n)) return false;
        uint32_t bits = static_cast<uint32_t>(n);
        float fl;
        std::memcpy(&fl, &bits, sizeof fl);
        v.type = Value::Float;
        v.f = fl;
        return true;
      }
      case 0xcb: {
        if (!be(8, n)) return false;
        v.type = Value::Float;
        std::memcpy(&v.f, &n, sizeof v.f);
        return true;
      }
      case 0xcc: return be(1, n) && set_uint(v, n);
      case 0xcd: return be(2, n) && set_uint(v, n);
      case 0xce: return be(4, n) && set_uint(v, n);
      case 0xcf: return be(8, n) && set_uint(v, n);
      case 0xd0: return be(1, n) && set_int(v, static_cast<int8_t>(n));
      case 0xd1: return be(2, n) && set_int(v, static_cast<int16_t>(n));
      case 0xd2: return be(4, n) && set_int(v, static_cast<int32_t>(n));
      case 0xd3: return be(8, n) && set_int(v, static_cast<int64_t>(n));
      case 0xd9: return be(1, n) && read_bytes(v, Value::Str, n);
      case 0xda: return be(2, n) && read_bytes(v, Value::Str, n);
      case 0xdb: return be(4, n) && read_bytes(v, Value::Str, n);
      case 0xdc: return be(2, n) && read_array(v, n, depth);
      case 0xdd: return be(4, n) && read_array(v, n, depth);
      case 0xde: return be(2, n) && read_map(v, n, depth);
      case 0xdf: return be(4, n) && read_map(v, n, depth);
      default: return false;  // ext types and the reserved tag 0xc1
    }
  }

  bool at_end() const { return p_ == end_; }

 private:
  size_t left() const { return static_cast<size_t>(end_ - p_); }

  bool byte(uint8_t& b) {
    if (p_ == end_) return false;
    b = *p_++;
    return true;
  }

  bool be(size_t width, uint64_t& n) {
    if (left() < width) return false;
    n = 0;
    for (size_t k = 0; k < width; k++) n = (n << 8) | *p_++;
    return true;
  }

  static bool set_uint(Value& v, uint64_t n) {
    v.type = Value::Int;
    v.negative = false;
    v.u = n;
    v.i = n > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(n);
    return true;
  }

  static bool set_int(Value& v, int64_t n) {
    if (n >= 0) return set_uint(v, static_cast<uint64_t>(n));
    v.type = Value::Int;
    v.negative = true;
    v.i = n;
    v.u = 0;
    return true;
  }

  bool read_bytes(Value& v, Value::Type type, uint64_t n) {
    if (n > left()) return false;
    v.type = type;
    v.s = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

  bool read_array(Value& v, uint64_t n, size_t depth) {
    // Every element takes at least one byte, and the frame's total is capped:
    // checked before anything is allocated.
    if (n > left() || (elements_ += n) > kMaxElements) return false;
    v.type = Value::Array;
    v.items.resize(n);
    for (auto& item : v.items)
      if (!value(item, depth + 1)) return false;
    return true;
  }

  bool read_map(Value& v, uint64_t n, size_t depth) {
    if (n > left() / 2 || (elements_ += n) > kMaxElements) return false;
    v.type = Value::Map;
    v.map.resize(n);
    for (auto& kv : v.map) {
      Value key;
      if (!value(key, depth + 1) || key.type != Value::Str) return false;
      kv.first = key.s;
      if (!value(kv.second, depth + 1)) return false;
    }
    return true;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  size_t elements_ = 0;
};

void put_be(std::string& out, uint8_t tag, uint64_t v, int width) {
  out.push_back(static_cast<char>(tag));
  for (int k = width - 1; k >= 0; k--) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

}  // namespace

bool decode(const char* data, size_t len, Value& out) {
  Reader r(data, len);
  out = Value();
  return r.value(out, 0) && r.at_end();
}

namespace enc {

void map(std::string& out, uint32_t n) {
  if (n < 16) out.push_back(static_cast<char>(0x80 | n));
  else if (n <= 0xffff) put_be(out, 0xde, n, 2);
  else put_be(out, 0xdf, n, 4);
}

void array(std::string& out, uint32_t n) {
  if (n < 16) out.push_back(static_cast<char>(0x90 | n));
  else if (n <= 0xffff) put_be(out, 0xdc, n, 2);
  else put_be(out, 0xdd, n, 4);
}

void str(std::string& out, std::string_view s) {
  size_t n = s.size();
  if (n < 32) out.push_back(static_cast<char>(0xa0 | n));
  else if (n <= 0xff) put_be(out, 0xd9, n, 1);
  else if (n <= 0xffff) put_be(out, 0xda, n, 2);
  else put_be(out, 0xdb, n, 4);
  out.append(s);
}

void bin_header(std::string& out, uint32_t n) {
  if (n <= 0xff) put_be(out, 0xc4, n, 1);
  else if (n <= 0xffff) put_be(out, 0xc5, n, 2);
  else put_be(out, 0xc6, n, 4);
}

void bin(std::string& out, std::string_view s) {
  bin_header(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void uint(std::string& out, uint64_t v) {
  if (v <= 0x7f) out.push_back(static_cast<char>(v));
  else if (v <= 0xff) put_be(out, 0xcc, v, 1);
  else if (v <= 0xffff) put_be(out, 0xcd, v, 2);
  else if (v <= 0xffffffffu) put_be(out, 0xce, v, 4);
  else put_be(out, 0xcf, v, 8);
}

void sint(std::string& out, int64_t v) {
  if (v >= 0) return uint(out, static_cast<uint64_t>(v));
  if (v >= -32) out.push_back(static_cast<char>(static_cast<int8_t>(v)));
  else if (v >= INT32_MIN) put_be(out, 0xd2, static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
  else put_be(out, 0xd3, static_cast<uint64_t>(v), 8);
}

void boolean(std::string& out, bool v) { out.push_back(v ? '\xc3' : '\xc2'); }
void nil(std::string& out) { out.push_back('\xc0'); }

}  // namespace enc
}  // namespace initd
