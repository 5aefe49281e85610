// dosh's command line, read exactly as the Node CLI reads it (src/cli/dosh.ts:
// splitCommand, then node:util parseArgs in strict mode).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dosh {

extern const char kUsage[];  // the same text as USAGE in src/cli/dosh.ts

struct Options {
  std::optional<std::string> container, pid, depot, user, dir;
  bool tty = false;     // -t/--tty given
  bool no_tty = false;  // -T/--no-tty given
  bool help = false;
  std::vector<std::string> env;
  std::vector<std::string> command;  // empty: none given
};

// False when parseArgs would reject the line (or it is something we leave to
// the Node CLI): the caller hands the whole line to the Node CLI, which says
// why in parseArgs' own words.
bool parse_args(int argc, char** argv, Options& out);

}  // namespace dosh
