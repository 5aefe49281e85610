#include "initd/users.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace initd {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool parse_id(std::string_view s, unsigned long& out) {
  if (s.empty() || s.size() > 10) return false;
  unsigned long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > 0xfffffffeul) return false;  // (uid_t)-1 means "no change" to setuid
  out = v;
  return true;
}

// Calls fn(fields) for every well-formed line of a colon-separated database.
template <typename Fn>
void each_line(const char* path, size_t min_fields, Fn fn) {
  FILE* f = std::fopen(path, "re");
  if (!f) return;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    std::string_view l(line, static_cast<size_t>(n));
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
    if (l.empty() || l[0] == '#') continue;
    auto fields = split(l, ':');
    if (fields.size() >= min_fields && fn(fields)) break;
  }
  std::free(line);
  std::fclose(f);
}

}  // namespace

bool resolve_user(const std::string& spec, User& out, std::string& error, const char* passwd_path,
                  const char* group_path) {
  std::string_view user_part = spec, group_part;
  bool has_group = false;
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    user_part = std::string_view(spec).substr(0, colon);
    group_part = std::string_view(spec).substr(colon + 1);
    has_group = true;
  }
  if (user_part.empty()) user_part = "root";

  unsigned long numeric = 0;
  bool by_id = parse_id(user_part, numeric);
  bool found = false;
  each_line(passwd_path, 7, [&](const std::vector<std::string_view>& f) {
    unsigned long uid, gid;
    if (!parse_id(f[2], uid) || !parse_id(f[3], gid)) return false;
    if (by_id ? uid != numeric : f[0] != user_part) return false;
    out.uid = static_cast<uid_t>(uid);
    out.gid = static_cast<gid_t>(gid);
    out.name.assign(f[0]);
    out.home.assign(f[5]);
    found = true;
    return true;
  });
  if (!found) {
    if (!by_id && user_part != "root") {
      error = "unknown user '" + std::string(user_part) + "'";
      return false;
    }
    // As Docker does: a uid with no passwd entry runs with gid 0 and HOME=/.
    out.uid = static_cast<uid_t>(by_id ? numeric : 0);
    out.gid = 0;
    out.name = by_id ? "" : "root";
    out.home = by_id ? "/" : "/root";
  }
  if (out.home.empty()) out.home = "/";

  if (has_group) {
    unsigned long gid;
    if (parse_id(group_part, gid)) {
      out.gid = static_cast<gid_t>(gid);
    } else {
      bool group_found = false;
      each_line(group_path, 3, [&](const std::vector<std::string_view>& f) {
        unsigned long g;
        if (f[0] != group_part || !parse_id(f[2], g)) return false;
        out.gid = static_cast<gid_t>(g);
        group_found = true;
        return true;
      });
      if (!group_found) {
        error = "unknown group '" + std::string(group_part) + "'";
        return false;
      }
    }
  }

  out.groups.clear();
  out.groups.push_back(out.gid);
  if (!out.name.empty()) {
    each_line(group_path, 4, [&](const std::vector<std::string_view>& f) {
      unsigned long g;
      if (!parse_id(f[2], g)) return false;
      for (auto member : split(f[3], ','))
        if (member == out.name && std::find(out.groups.begin(), out.groups.end(), g) == out.groups.end())
          out.groups.push_back(static_cast<gid_t>(g));
      return out.groups.size() >= 1024;  // NGROUPS limits how many the kernel takes anyway
    });
  }
  return true;
}

}  // namespace initd
