// A small, bounds-checked msgpack decoder and encoder: just what init-d's
// frames need. Decoded strings and bins point into the frame's bytes, so a
// Value is valid only while that frame is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace initd {

struct Value {
  enum Type : uint8_t { Nil, Bool, Int, Float, Str, Bin, Array, Map };
  Type type = Nil;
  bool b = false;
  bool negative = false;  // Int: true when the value is below zero
  uint64_t u = 0;         // Int: the value when !negative
  int64_t i = 0;          // Int: the value when negative
  double f = 0;
  std::string_view s;     // Str, Bin
  std::vector<Value> items;                             // Array
  std::vector<std::pair<std::string_view, Value>> map;  // Map (string keys only)

  const Value* get(std::string_view key) const;
  bool is_uint() const { return type == Int && !negative; }
};

// Decodes exactly one value spanning all of [data, data+len). Returns false on
// anything malformed, truncated, too deep, too large, or with trailing bytes.
bool decode(const char* data, size_t len, Value& out);

// Encoding appends to a byte string.
namespace enc {
void map(std::string& out, uint32_t n);
void array(std::string& out, uint32_t n);
void str(std::string& out, std::string_view s);
void bin_header(std::string& out, uint32_t n);
void bin(std::string& out, std::string_view s);
void uint(std::string& out, uint64_t v);
void sint(std::string& out, int64_t v);
void boolean(std::string& out, bool v);
void nil(std::string& out);
}  // namespace enc

}  // namespace initd
