#include "initd/ring.h"

#include <algorithm>

namespace initd {

namespace {
constexpr size_t kMinAlloc = 16u << 10;
}

void Ring::grow(size_t need) {
  size_t want = std::max(buf_.size(), kMinAlloc);
  while (want < need) want *= 2;
  want = std::min(want, cap_);
  if (want <= buf_.size()) return;
  std::vector<char> next(want);
  iovec iov[2];
  size_t copied = 0;
  for (int i = 0, n = readable(lo_, size(), iov); i < n; i++) {
    std::copy_n(static_cast<char*>(iov[i].iov_base), iov[i].iov_len, next.begin() + (lo_ + copied) % want);
    copied += iov[i].iov_len;
  }
  buf_.swap(next);
}

int Ring::writable(iovec iov[2], size_t max) {
  if (room() == 0 || max == 0) return 0;
  // Grow only when full: a quiet stream keeps 16 KiB, a busy one doubles up to capacity.
  if (buf_.size() == size()) grow(std::max(kMinAlloc, buf_.size() * 2));
  size_t n = std::min({room(), max, buf_.size() - size()});
  if (n == 0) return 0;
  size_t at = end_ % buf_.size();
  size_t first = std::min(n, buf_.size() - at);
  iov[0] = {buf_.data() + at, first};
  if (first == n) return 1;
  iov[1] = {buf_.data(), n - first};
  return 2;
}

int Ring::readable(uint64_t from, size_t max, iovec iov[2]) const {
  if (from < lo_ || from >= end_ || buf_.empty()) return 0;
  size_t n = std::min(static_cast<size_t>(end_ - from), max);
  size_t at = from % buf_.size();
  size_t first = std::min(n, buf_.size() - at);
  iov[0] = {const_cast<char*>(buf_.data()) + at, first};
  if (first == n) return 1;
  iov[1] = {const_cast<char*>(buf_.data()), n - first};
  return 2;
}

void Ring::release(uint64_t offset) {
  lo_ = std::max(lo_, std::min(offset, end_));
  if (lo_ == end_ && !buf_.empty()) std::vector<char>().swap(buf_);  // nothing kept: give the memory back
}

}  // namespace initd
