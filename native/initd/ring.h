// One output stream's bytes, addressed by absolute offset. The ring keeps
// [lo, end): bytes not yet sent to anyone plus a replay window of sent ones.
// It grows on demand up to its capacity, so idle processes cost little.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace initd {

class Ring {
 public:
  explicit Ring(size_t capacity) : cap_(capacity) {}

  uint64_t lo() const { return lo_; }
  uint64_t end() const { return end_; }
  size_t size() const { return static_cast<size_t>(end_ - lo_); }
  size_t room() const { return cap_ - size(); }

  // Free space to read into (up to two segments, at most `max` bytes);
  // grows the buffer if needed. Returns the number of segments.
  int writable(iovec iov[2], size_t max);
  void commit(size_t n) { end_ += n; }

  // Kept bytes from `from` (lo <= from <= end), at most `max`.
  int readable(uint64_t from, size_t max, iovec iov[2]) const;

  // Forgets bytes before `offset` (never beyond end).
  void release(uint64_t offset);

 private:
  void grow(size_t need);
  size_t cap_;
  std::vector<char> buf_;
  uint64_t lo_ = 0, end_ = 0;
};

}  // namespace initd
