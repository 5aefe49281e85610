// Typed, validated requests. Parsing never trusts the frame: every field is
// checked for type and range, and a bad one yields a message for the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "initd/msgpack.h"

namespace initd {

struct Rlimit {
  int resource;
  uint64_t value;
};

struct SpawnRequest {
  std::string id;  // empty: generate
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string dir;
  std::string user;
  std::vector<Rlimit> rlimits;
  bool tty = false;
  uint16_t cols = 0, rows = 0;
  bool direct = false;
};

struct AttachRequest {
  std::string id;
  std::optional<uint64_t> stdout_offset, stderr_offset;
  int sink = 0;  // 1|2: write that stream's raw bytes into the fd sent with the request
};

struct Request {
  enum Op { kPing, kSpawn, kAttach, kSignal, kResize, kWait, kList, kStop } op = kPing;
  SpawnRequest spawn;
  AttachRequest attach;
  std::string id;         // signal, resize, wait
  int signal = 0;         // signal
  uint16_t cols = 0, rows = 0;  // resize
  bool kill = false;      // stop
  int timeout_ms = 0;     // stop
};

// Returns false and sets `error` when the frame is not a valid request.
bool parse_request(const Value& frame, Request& out, std::string& error);

// Messages a client sends on an attachment after the reply.
struct StreamMessage {
  enum Kind { kStdin, kCloseStdin, kSignal, kResize, kMute } kind = kStdin;
  std::string_view data;
  int stream = 0;  // mute
  int signal = 0;
  uint16_t cols = 0, rows = 0;
};

bool parse_stream_message(const Value& frame, StreamMessage& out, std::string& error);

}  // namespace initd
