// Small things every part of dosh needs: an owned fd, one-line errors, full
// writes, and the way out to the Node CLI.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dosh {

// Owns one file descriptor; closes it when destroyed.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Prints "dosh: MESSAGE" as one line on stderr and returns `code`.
int fail(std::string_view message, int code = 1);

// "ENOENT", "EPIPE", ... ("E123" for a number without a name).
std::string errno_name(int err);

// Worded like Node's system errors (and the addon's): "EPIPE: broken pipe, sendmsg".
std::string errno_message(int err, const char* syscall);

// Writes all of [data, data+len) to fd, waiting (poll) when it is
// non-blocking and full. False on any other error (errno set).
bool write_all(int fd, const char* data, size_t len);

// True when s is well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF): what Node decodes without replacement characters.
bool valid_utf8(std::string_view s);

// Monotonic milliseconds.
long long now_ms();

// Replaces this process with the Node CLI (node <root>/bin/dosh.js ARGS...),
// for what dosh does not do natively. Returns only on failure, after printing
// why; the result is the exit code.
int exec_node_cli(int argc, char** argv);

}  // namespace dosh
