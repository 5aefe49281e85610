// Users and groups from the container's own /etc/passwd and /etc/group: a
// static PID 1 has no NSS, and the host's databases are not the container's.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace initd {

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // empty when the uid has no passwd entry
  std::string home;
  std::vector<gid_t> groups;  // supplementary, the primary group included
};

// Resolves "", "name", "uid", "uid:gid", "name:group" or "uid:group".
// Returns false with `error` set when a name is unknown.
bool resolve_user(const std::string& spec, User& out, std::string& error,
                  const char* passwd_path = "/etc/passwd", const char* group_path = "/etc/group");

}  // namespace initd
