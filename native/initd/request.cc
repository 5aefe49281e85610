#include "initd/request.h"

#include <csignal>
#include <sys/resource.h>

#include "common/protocol.h"

namespace initd {
namespace {

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Reads an optional string field; false (with error) on a wrong type.
bool opt_str(const Value& m, const char* key, std::string& out, std::string& error, size_t max = 1u << 16) {
  const Value* v = m.get(key);
  if (!v || v->type == Value::Nil) return true;
  if (v->type != Value::Str || v->s.size() > max || has_nul(v->s)) {
    error = std::string("field '") + key + "' must be a string without NUL bytes";
    return false;
  }
  out.assign(v->s);
  return true;
}

bool req_str(const Value& m, const char* key, std::string& out, std::string& error, size_t max = 1u << 16) {
  if (!opt_str(m, key, out, error, max)) return false;
  if (out.empty()) {
    error = std::string("field '") + key + "' is required";
    return false;
  }
  return true;
}

bool opt_str_list(const Value& m, const char* key, std::vector<std::string>& out, std::string& error) {
  const Value* v = m.get(key);
  if (!v || v->type == Value::Nil) return true;
  if (v->type != Value::Array) {
    error = std::string("field '") + key + "' must be an array of strings";
    return false;
  }
  out.reserve(v->items.size());
  for (const auto& item : v->items) {
    if (item.type != Value::Str || has_nul(item.s)) {
      error = std::string("field '") + key + "' must be an array of strings without NUL bytes";
      return false;
    }
    out.emplace_back(item.s);
  }
  return true;
}

bool opt_uint(const Value& m, const char* key, uint64_t max, std::optional<uint64_t>& out, std::string& error) {
  const Value* v = m.get(key);
  if (!v || v->type == Value::Nil) return true;
  if (!v->is_uint() || v->u > max) {
    error = std::string("field '") + key + "' must be an integer from 0 to " + std::to_string(max);
    return false;
  }
  out = v->u;
  return true;
}

bool opt_bool(const Value& m, const char* key, bool& out, std::string& error) {
  const Value* v = m.get(key);
  if (!v || v->type == Value::Nil) return true;
  if (v->type != Value::Bool) {
    error = std::string("field '") + key + "' must be a boolean";
    return false;
  }
  out = v->b;
  return true;
}

struct RlimitName {
  const char* name;
  int resource;
};

constexpr RlimitName kRlimits[] = {
    {"as", RLIMIT_AS},         {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},     {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO}, {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

bool parse_rlimits(const Value& m, std::vector<Rlimit>& out, std::string& error) {
  const Value* v = m.get("rlimits");
  if (!v || v->type == Value::Nil) return true;
  if (v->type != Value::Map) {
    error = "field 'rlimits' must be a map";
    return false;
  }
  for (const auto& kv : v->map) {
    const RlimitName* found = nullptr;
    for (const auto& r : kRlimits)
      if (kv.first == r.name) found = &r;
    if (!found) {
      error = "unknown rlimit '" + std::string(kv.first) + "'";
      return false;
    }
    if (!kv.second.is_uint()) {
      error = "rlimit '" + std::string(kv.first) + "' must be an unsigned integer";
      return false;
    }
    out.push_back({found->resource, kv.second.u});
  }
  return true;
}

bool parse_id(const Value& m, std::string& id, bool required, std::string& error) {
  if (!(required ? req_str(m, "id", id, error, kMaxIdLength) : opt_str(m, "id", id, error, kMaxIdLength)))
    return false;
  return true;
}

bool parse_spawn(const Value& m, SpawnRequest& s, std::string& error) {
  if (!parse_id(m, s.id, false, error) || !req_str(m, "path", s.path, error, 4096) ||
      !opt_str_list(m, "args", s.args, error) || !opt_str_list(m, "env", s.env, error) ||
      !opt_str(m, "dir", s.dir, error, 4096) || !opt_str(m, "user", s.user, error, 256) ||
      !parse_rlimits(m, s.rlimits, error))
    return false;
  for (const auto& e : s.env) {
    if (e.find('=') == std::string::npos || e[0] == '=') {
      error = "env entries must be K=V";
      return false;
    }
  }
  if (const Value* tty = m.get("tty"); tty && tty->type != Value::Nil) {
    if (tty->type != Value::Map) {
      error = "field 'tty' must be a map";
      return false;
    }
    std::optional<uint64_t> cols, rows;
    if (!opt_uint(*tty, "cols", 0xffff, cols, error) || !opt_uint(*tty, "rows", 0xffff, rows, error)) return false;
    s.tty = true;
    s.cols = static_cast<uint16_t>(cols.value_or(0));
    s.rows = static_cast<uint16_t>(rows.value_or(0));
  }
  std::string io;
  if (!opt_str(m, "io", io, error, 16)) return false;
  if (io == "direct") s.direct = true;
  else if (!io.empty() && io != "relayed") {
    error = "field 'io' must be 'relayed' or 'direct'";
    return false;
  }
  return true;
}

bool parse_signal(const Value& m, int& sig, std::string& error) {
  std::optional<uint64_t> n;
  if (!opt_uint(m, "signal", 64, n, error)) return false;
  if (!n || *n < 1 || *n >= static_cast<uint64_t>(NSIG)) {
    error = "field 'signal' must be a signal number";
    return false;
  }
  sig = static_cast<int>(*n);
  return true;
}

// An output stream number: 1 (stdout) or 2 (stderr).
bool parse_stream(const Value& m, const char* key, bool required, std::optional<uint64_t>& out, std::string& error) {
  const Value* v = m.get(key);
  if (v && v->type != Value::Nil && v->is_uint()) out = v->u;
  bool absent = !v || v->type == Value::Nil;
  if (absent ? required : (!out || *out < 1 || *out > 2)) {
    error = std::string("field '") + key + "' must be 1 (stdout) or 2 (stderr)";
    return false;
  }
  return true;
}

bool parse_size(const Value& m, uint16_t& cols, uint16_t& rows, std::string& error) {
  std::optional<uint64_t> c, r;
  if (!opt_uint(m, "cols", 0xffff, c, error) || !opt_uint(m, "rows", 0xffff, r, error)) return false;
  if (!c || !r) {
    error = "fields 'cols' and 'rows' are required";
    return false;
  }
  cols = static_cast<uint16_t>(*c);
  rows = static_cast<uint16_t>(*r);
  return true;
}

}  // namespace

bool parse_request(const Value& m, Request& out, std::string& error) {
  std::string op;
  if (!req_str(m, "op", op, error, 32)) return false;
  if (op == "ping") {
    out.op = Request::kPing;
    return true;
  }
  if (op == "spawn") {
    out.op = Request::kSpawn;
    return parse_spawn(m, out.spawn, error);
  }
  if (op == "attach") {
    out.op = Request::kAttach;
    std::optional<uint64_t> sink;
    if (!parse_id(m, out.attach.id, true, error) ||
        !opt_uint(m, "stdout", UINT64_MAX, out.attach.stdout_offset, error) ||
        !opt_uint(m, "stderr", UINT64_MAX, out.attach.stderr_offset, error) ||
        !parse_stream(m, "sink", false, sink, error))
      return false;
    out.attach.sink = static_cast<int>(sink.value_or(0));
    return true;
  }
  if (op == "signal") {
    out.op = Request::kSignal;
    return parse_id(m, out.id, true, error) && parse_signal(m, out.signal, error);
  }
  if (op == "resize") {
    out.op = Request::kResize;
    return parse_id(m, out.id, true, error) && parse_size(m, out.cols, out.rows, error);
  }
  if (op == "wait") {
    out.op = Request::kWait;
    return parse_id(m, out.id, true, error);
  }
  if (op == "list") {
    out.op = Request::kList;
    return true;
  }
  if (op == "stop") {
    out.op = Request::kStop;
    std::optional<uint64_t> timeout;
    if (!opt_bool(m, "kill", out.kill, error) || !opt_uint(m, "timeout", 24u * 3600 * 1000, timeout, error))
      return false;
    out.timeout_ms = static_cast<int>(timeout.value_or(kDefaultStopTimeoutMs));
    return true;
  }
  error = "unknown op '" + op + "'";
  return false;
}

bool parse_stream_message(const Value& m, StreamMessage& out, std::string& error) {
  std::string t;
  if (!req_str(m, "t", t, error, 16)) return false;
  if (t == "in") {
    const Value* d = m.get("d");
    if (!d || (d->type != Value::Bin && d->type != Value::Str)) {
      error = "field 'd' must be bytes";
      return false;
    }
    out.kind = StreamMessage::kStdin;
    out.data = d->s;
    return true;
  }
  if (t == "close") {
    out.kind = StreamMessage::kCloseStdin;
    return true;
  }
  if (t == "signal") {
    out.kind = StreamMessage::kSignal;
    return parse_signal(m, out.signal, error);
  }
  if (t == "resize") {
    out.kind = StreamMessage::kResize;
    return parse_size(m, out.cols, out.rows, error);
  }
  if (t == "mute") {
    out.kind = StreamMessage::kMute;
    std::optional<uint64_t> s;
    if (!parse_stream(m, "s", true, s, error)) return false;
    out.stream = static_cast<int>(*s);
    return true;
  }
  error = "unknown message '" + t + "'";
  return false;
}

}  // namespace initd
