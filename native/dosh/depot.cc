#include "dosh/depot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dosh/util.h"

namespace dosh {

// ---- paths (node:path, posix) ----------------------------------------------

std::string path_normalize(std::string_view p) {
  if (p.empty()) return ".";
  bool absolute = p.front() == '/';
  bool trailing = p.back() == '/';
  std::vector<std::string_view> segs;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view seg = p.substr(start, slash - start);
    start = slash + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segs.empty() && segs.back() != "..") segs.pop_back();
      else if (!absolute) segs.push_back(seg);
      continue;
    }
    segs.push_back(seg);
  }
  std::string out;
  for (std::string_view s : segs) {
    if (!out.empty()) out.push_back('/');
    out.append(s);
  }
  if (out.empty()) return absolute ? "/" : (trailing ? "./" : ".");
  if (trailing) out.push_back('/');
  return absolute ? "/" + out : out;
}

std::string path_join(std::initializer_list<std::string_view> parts) {
  std::string joined;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    if (!joined.empty()) joined.push_back('/');
    joined.append(part);
  }
  return joined.empty() ? "." : path_normalize(joined);
}

namespace {

constexpr std::string_view kSocketInContainerDir = "run/initd.sock";

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// For an absolute, normalized path.
std::string dirname_abs(const std::string& p) {
  size_t slash = p.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}

std::string_view basename_abs(const std::string& p) {
  return std::string_view(p).substr(p.find_last_of('/') + 1);
}

// The whole of a regular file; false when it cannot be read (a directory,
// missing, a FIFO we would block on).
bool read_regular_file(const std::string& path, std::string& out) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return false;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.clear();
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

// ---- JSON: validate like JSON.parse, and read the top-level "handle" --------

class Json {
 public:
  explicit Json(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  enum Kind { kAbsent, kString, kOther };
  struct Field {
    Kind kind = kAbsent;
    std::string value;
    bool bad_utf8 = false;        // raw bytes JSON.parse would see as U+FFFD
    bool lone_surrogate = false;  // a \uD800-style escape no UTF-8 argument can equal
  };

  // False when the text is not one JSON value; else `handle` is what the
  // top-level object's last "handle" key holds.
  bool scan(Field& handle) {
    enum State { kValue, kAfterValue, kKey };
    std::vector<char> stack;  // '{' or '['; iterative, as V8's parser is
    State state = kValue;
    bool capture = false;  // the value now being read is the top-level "handle"
    for (;;) {
      ws();
      if (state == kKey) {
        std::string key;
        bool bad = false, lone = false;
        if (!string(&key, &bad, &lone)) return false;
        ws();
        if (!eat(':')) return false;
        capture = stack.size() == 1 && stack[0] == '{' && !bad && !lone && key == "handle";
        state = kValue;
        continue;
      }
      if (state == kValue) {
        if (p_ == end_) return false;
        char c = *p_;
        if (c == '{' || c == '[') {
          if (capture) handle = Field{kOther, {}, false, false};
          capture = false;
          p_++;
          ws();
          if (eat(c == '{' ? '}' : ']')) {
            state = kAfterValue;
          } else {
            stack.push_back(c);
            state = c == '{' ? kKey : kValue;
          }
          continue;
        }
        if (c == '"') {
          Field f;
          f.kind = kString;
          if (!string(capture ? &f.value : nullptr, &f.bad_utf8, &f.lone_surrogate)) return false;
          if (capture) handle = std::move(f);
        } else {
          if (!(literal("true") || literal("false") || literal("null") || number())) return false;
          if (capture) handle = Field{kOther, {}, false, false};
        }
        capture = false;
        state = kAfterValue;
        continue;
      }
      // kAfterValue
      if (stack.empty()) return p_ == end_;
      if (eat(',')) {
        state = stack.back() == '{' ? kKey : kValue;
        continue;
      }
      if (!eat(stack.back() == '{' ? '}' : ']')) return false;
      stack.pop_back();
    }
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }

  bool eat(char c) {
    if (p_ == end_ || *p_ != c) return false;
    p_++;
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool digits() {
    if (p_ == end_ || !digit(*p_)) return false;
    while (p_ < end_ && digit(*p_)) p_++;
    return true;
  }

  bool number() {
    eat('-');
    if (eat('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (eat('.') && !digits()) return false;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      p_++;
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }

  int hex4() {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
      char c = *p_++;
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  // A string at p_ (which is '"'); decoded into *out when out is given.
  bool string(std::string* out, bool* bad_utf8, bool* lone_surrogate) {
    if (!eat('"')) return false;
    const char* raw = p_;  // start of the current run of unescaped bytes
    auto flush = [&](const char* upto) {
      std::string_view run(raw, static_cast<size_t>(upto - raw));
      if (!valid_utf8(run)) *bad_utf8 = true;
      if (out) out->append(run);
    };
    for (;;) {
      if (p_ == end_) return false;
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20) return false;
      if (c == '"') {
        flush(p_);
        p_++;
        return true;
      }
      if (c != '\\') {
        p_++;
        continue;
      }
      flush(p_);
      p_++;
      if (p_ == end_) return false;
      char e = *p_++;
      char plain = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b' : e == 'f' ? '\f'
                 : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
      if (plain != 0) {
        if (out) out->push_back(plain);
      } else if (e == 'u') {
        int u = hex4();
        if (u < 0) return false;
        uint32_t cp = static_cast<uint32_t>(u);
        if (cp >= 0xd800 && cp <= 0xdbff && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
          const char* save = p_;
          p_ += 2;
          int lo = hex4();
          if (lo < 0) return false;
          if (lo >= 0xdc00 && lo <= 0xdfff) cp = 0x10000 + ((cp - 0xd800) << 10) + (static_cast<uint32_t>(lo) - 0xdc00);
          else p_ = save;  // a lone high surrogate; the next escape stands alone
        }
        if (cp >= 0xd800 && cp <= 0xdfff) *lone_surrogate = true;
        else if (out) put_utf8(*out, cp);
      } else {
        return false;
      }
      raw = p_;
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

Found state_handle_is(std::string_view text, std::string_view handle) {
  Json::Field f;
  if (!Json(text).scan(f) || f.kind != Json::kString || f.lone_surrogate) return Found::kNo;
  if (f.bad_utf8)  // JSON.parse would see U+FFFD where we see raw bytes
    return handle.find("\xef\xbf\xbd") == std::string_view::npos ? Found::kNo : Found::kAskNode;
  return f.value == handle ? Found::kYes : Found::kNo;
}

Found socket_for_handle(const std::string& depot, const std::string& handle, std::string& socket) {
  std::string containers = path_join({depot, "containers"});
  std::string direct = path_join({containers, handle, kSocketInContainerDir});
  if (handle.find('/') == std::string::npos && exists(direct)) {
    socket = direct;
    return Found::kYes;
  }
  // readdirSync's order (libuv sorts by strcmp), so the first match is Node's.
  DIR* dir = opendir(containers.c_str());
  if (dir == nullptr) return Found::kNo;
  std::vector<std::string> names;
  while (dirent* d = readdir(dir)) {
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
    // Node decodes names as UTF-8: a name that is not cannot be opened again.
    if (!valid_utf8(d->d_name)) continue;
    names.emplace_back(d->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return std::strcmp(a.c_str(), b.c_str()) < 0; });
  std::string text;
  for (const std::string& name : names) {
    if (!read_regular_file(path_join({containers, name, "state.json"}), text)) continue;
    Found f = state_handle_is(text, handle);
    if (f == Found::kNo) continue;
    if (f == Found::kYes) socket = path_join({containers, name, kSocketInContainerDir});
    return f;
  }
  return Found::kNo;
}

bool socket_from_cwd(const std::string& cwd, std::string& socket) {
  std::string dir = path_normalize(cwd);  // path.resolve of an absolute path
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (;;) {
    std::string candidate = path_join({dir, kSocketInContainerDir});
    if (exists(candidate)) {
      socket = candidate;
      return true;
    }
    if (basename_abs(dir) == "run") {
      candidate = path_join({dir, "initd.sock"});
      if (exists(candidate)) {
        socket = candidate;
        return true;
      }
    }
    std::string up = dirname_abs(dir);
    if (up == dir) return false;
    dir = std::move(up);
  }
}

}  // namespace dosh
