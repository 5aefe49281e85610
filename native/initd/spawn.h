// fork + exec of one process with its user, limits, directory and stdio.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "initd/request.h"
#include "initd/users.h"

namespace initd {

struct SpawnPlan {
  std::string path;
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // final environment
  std::string dir;
  User user;
  std::vector<Rlimit> rlimits;
  int stdio[3] = {-1, -1, -1};
  bool tty = false;  // stdio[0] is a pty slave: becomes the controlling terminal
};

struct SpawnError {
  const char* code = nullptr;  // protocol error code
  std::string message;
};

// Starts the process in its own session. On failure returns -1 and fills
// `error` with the reason the child reported (exec, chdir, user, limits).
pid_t spawn_process(const SpawnPlan& plan, SpawnError& error);

// Builds the environment: `env` over Garden's defaults (HOME, USER, PATH).
std::vector<std::string> default_env(const std::vector<std::string>& env, const User& user);

}  // namespace initd
