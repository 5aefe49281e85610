// The host's side of a direct attachment (PROTOCOL.md, "Direct
// attachments"): one connection carries the spawn request with our own
// stdio fds (or, with a tty, brings back the pty master), then the exit code.
// Errors are worded as the Node client words them (src/initd/direct.ts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dosh/util.h"
#include "initd/frame.h"

namespace dosh {

struct SpawnSpec {
  std::string path;
  std::vector<std::string> args;  // after argv[0]
  std::vector<std::string> env;
  std::string dir;   // empty: the user's home
  std::string user;  // empty: root
  bool tty = false;
  uint32_t cols = 0, rows = 0;
};

class Attachment {
 public:
  // Connects, sends the spawn request (with fds 0, 1, 2 unless spec.tty) and
  // reads the reply. On failure `error` is the message for `dosh: ...`.
  bool spawn(const std::string& socket_path, const SpawnSpec& spec, std::string& error);

  // Blocks until the exit frame: true with its code.
  bool wait(int& code, std::string& error);

  // For a poll loop: the connection, and what to do when it is readable.
  // Returns false on a failure (error set); sets *exited and code when the
  // exit frame has come.
  int fd() const { return sock_.get(); }
  bool on_readable(bool* exited, int& code, std::string& error);
  // True when a frame that came with the reply already holds the exit.
  bool exit_buffered(int& code, std::string& error);

  // {t: "resize", cols, rows}; best effort, as the Node CLI's.
  void resize(uint32_t cols, uint32_t rows);

  // The pty master (tty only), now the caller's.
  Fd take_master() { return std::move(master_); }

 private:
  enum Next { kMore, kExit, kBroken };
  Next next_exit(int& code);
  std::string closed_early() const;

  std::string socket_path_;
  Fd sock_;
  Fd master_;
  initd::FrameReader reader_;
};

}  // namespace dosh
