#include "dosh/args.h"

#include <cstring>
#include <deque>
#include <string_view>

namespace dosh {

const char kUsage[] =
    "usage: dosh [--depot DIR] [-c HANDLE | --pid PID] [-u USER] [-t] [-e K=V]... [-d DIR] [-- CMD ARGS...]\n"
    "\n"
    "Runs CMD (default: an interactive /bin/sh) in a container and exits with its code.\n"
    "\n"
    "  -c, --container HANDLE  the container (default: the one whose depot dir you stand in)\n"
    "      --pid PID           enter the namespaces of a running process instead (any container)\n"
    "      --depot DIR         the depot (default: $GARDEN_DEPOT or /var/lib/node-garden)\n"
    "  -u, --user USER         name, uid or uid:gid from the container's /etc/passwd (default root)\n"
    "  -t, --tty               allocate a terminal (default: when stdin is one and no CMD is given)\n"
    "  -T, --no-tty            never allocate a terminal\n"
    "  -e, --env K=V           set an environment variable (repeatable)\n"
    "  -d, --dir DIR           working directory (default: the user's home)\n"
    "  -h, --help              this help";

namespace {

struct Spec {
  const char* name;
  char short_name;  // 0: none
  bool takes_value;
};

constexpr Spec kSpecs[] = {
    {"container", 'c', true}, {"pid", 0, true},      {"depot", 0, true},
    {"user", 'u', true},      {"tty", 't', false},   {"no-tty", 'T', false},
    {"env", 'e', true},       {"dir", 'd', true},    {"help", 'h', false},
};

// Options whose value is the next argument, so the command is found after it
// (VALUE_OPTIONS in dosh.ts).
constexpr const char* kValueOptions[] = {"-c", "--container", "--pid", "--depot", "-u",
                                         "--user", "-e", "--env", "-d", "--dir"};

const Spec* by_long(std::string_view name) {
  for (const Spec& s : kSpecs)
    if (name == s.name) return &s;
  return nullptr;
}

const Spec* by_short(char c) {
  for (const Spec& s : kSpecs)
    if (s.short_name != 0 && s.short_name == c) return &s;
  return nullptr;
}

bool is_value_option(const char* arg) {
  for (const char* v : kValueOptions)
    if (std::strcmp(arg, v) == 0) return true;
  return false;
}

void store(Options& o, const Spec& s, std::string value) {
  std::string_view n = s.name;
  if (n == "container") o.container = std::move(value);
  else if (n == "pid") o.pid = std::move(value);
  else if (n == "depot") o.depot = std::move(value);
  else if (n == "user") o.user = std::move(value);
  else if (n == "dir") o.dir = std::move(value);
  else if (n == "env") o.env.push_back(std::move(value));
  else if (n == "tty") o.tty = true;
  else if (n == "no-tty") o.no_tty = true;
  else if (n == "help") o.help = true;
}

// An option given its value in the next argument: parseArgs takes any next
// argument, then (strict) rejects one that looks like an option.
bool take_next(Options& o, const Spec& s, std::deque<std::string>& rest) {
  if (rest.empty()) return false;  // "argument missing"
  std::string value = std::move(rest.front());
  rest.pop_front();
  if (value.size() > 1 && value[0] == '-') return false;  // "argument is ambiguous"
  store(o, s, std::move(value));
  return true;
}

}  // namespace

bool parse_args(int argc, char** argv, Options& out) {
  out = Options();
  // splitCommand: ours end at `--` or at the first argument that is not an option.
  int i = 1;
  for (; i < argc; i++) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) {
      for (int k = i + 1; k < argc; k++) out.command.emplace_back(argv[k]);
      break;
    }
    if (a[0] != '-' || std::strcmp(a, "-") == 0) {
      for (int k = i; k < argc; k++) out.command.emplace_back(argv[k]);
      break;
    }
    if (is_value_option(a)) i++;
  }
  std::deque<std::string> rest(argv + 1, argv + (i < argc ? i : argc));

  // parseArgs' tokenizer, for our options; anything it would refuse is false.
  while (!rest.empty()) {
    std::string arg = std::move(rest.front());
    rest.pop_front();
    if (arg.size() < 2 || arg[0] != '-') return false;  // a positional (not allowed)
    if (arg[1] != '-') {
      const Spec* s = by_short(arg[1]);
      if (arg.size() == 2) {  // -x
        if (s == nullptr) return false;
        if (!s->takes_value) store(out, *s, "");
        else if (!take_next(out, *s, rest)) return false;
        continue;
      }
      if (s != nullptr && s->takes_value) {  // -xVALUE
        store(out, *s, arg.substr(2));
        continue;
      }
      // A group: -tT, or -tcVALUE (a value option ends the group).
      std::deque<std::string> expanded;
      for (size_t k = 1; k < arg.size(); k++) {
        const Spec* g = by_short(arg[k]);
        if (g == nullptr || !g->takes_value || k == arg.size() - 1) {
          expanded.push_back(std::string("-") + arg[k]);
        } else {
          expanded.push_back("-" + arg.substr(k));
          break;
        }
      }
      rest.insert(rest.begin(), expanded.begin(), expanded.end());
      continue;
    }
    if (arg == "--") return false;  // never ours after splitCommand
    size_t eq = arg.find('=', 3);
    if (eq != std::string::npos) {  // --name=value
      const Spec* s = by_long(std::string_view(arg).substr(2, eq - 2));
      if (s == nullptr || !s->takes_value) return false;
      store(out, *s, arg.substr(eq + 1));
      continue;
    }
    const Spec* s = by_long(std::string_view(arg).substr(2));  // --name
    if (s == nullptr) return false;
    if (!s->takes_value) store(out, *s, "");
    else if (!take_next(out, *s, rest)) return false;
  }
  return true;
}

}  // namespace dosh
