// What both sides of the init-d protocol share (see PROTOCOL.md beside this
// file; the TypeScript copy is src/initd/protocol.ts).
#pragma once

#include <cstddef>
#include <cstdint>

namespace initd {

constexpr const char* kVersion = "1";

// A frame is a 4-byte big-endian length and one msgpack map.
constexpr uint32_t kMaxFrame = 1u << 20;          // 1 MiB
constexpr size_t kMaxDataChunk = 256u << 10;      // output bytes per "out" frame
constexpr size_t kMaxDepth = 8;                   // msgpack nesting
constexpr size_t kMaxElements = 16384;            // msgpack array/map items per frame
constexpr size_t kMaxIdLength = 256;
constexpr size_t kMaxProcesses = 8192;            // live + kept exit codes
constexpr size_t kMaxConnections = 4096;

constexpr size_t kDefaultBuffer = 1u << 20;       // unsent output kept per stream
constexpr size_t kDefaultReplay = 2u << 20;       // sent output kept per stream
constexpr int kDefaultStopTimeoutMs = 10000;

// Error codes carried in {ok: false, error: CODE}.
namespace err {
constexpr const char* kBadRequest = "bad_request";
constexpr const char* kExists = "exists";
constexpr const char* kNotFound = "not_found";
constexpr const char* kExecNotFound = "exec_not_found";
constexpr const char* kUserNotFound = "user_not_found";
constexpr const char* kDirNotFound = "dir_not_found";
constexpr const char* kSpawnFailed = "spawn_failed";
constexpr const char* kBadOffset = "bad_offset";
constexpr const char* kTooMany = "too_many";
}  // namespace err

enum StreamId : uint8_t { kStdout = 1, kStderr = 2 };

}  // namespace initd
