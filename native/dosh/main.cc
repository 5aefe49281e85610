// dosh, natively: the fast path of the Node CLI (src/cli/dosh.ts), with the
// same flags, messages and exit codes. What it does not do itself (--pid, and
// command lines parseArgs would refuse, so that the refusal is worded by
// parseArgs) it hands to the Node CLI by exec.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "dosh/args.h"
#include "dosh/client.h"
#include "dosh/depot.h"
#include "dosh/terminal.h"
#include "dosh/util.h"

namespace dosh {
namespace {

// Node opens /dev/null on any of fds 0-2 that is closed; so do we, or our
// socket could become "stdout".
void ensure_stdio() {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int opened = open("/dev/null", O_RDWR);
    if (opened >= 0 && opened != fd) close(opened);  // cannot happen: lowest free fd
  }
}

bool current_dir(std::string& out) {
  std::vector<char> buf(PATH_MAX);
  if (getcwd(buf.data(), buf.size()) == nullptr) return false;
  out = buf.data();
  return true;
}

int run(int argc, char** argv) {
  ensure_stdio();
  // Node decodes arguments as UTF-8 with replacement characters; leave any
  // that are not UTF-8 to it, so both send the same bytes.
  for (int i = 1; i < argc; i++)
    if (!valid_utf8(argv[i])) return exec_node_cli(argc, argv);
  Options opt;
  if (!parse_args(argc, argv, opt)) return exec_node_cli(argc, argv);
  if (opt.help) {
    std::string text = std::string(kUsage) + "\n";
    write_all(1, text.data(), text.size());
    return 0;
  }
  for (const std::string& e : opt.env)
    if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos) return fail("--env wants K=V, got '" + e + "'");
  if (opt.pid) return exec_node_cli(argc, argv);  // setns spawning lives in the addon

  bool tty = opt.no_tty ? false : opt.tty || (opt.command.empty() && isatty(0));
  if (opt.command.empty()) opt.command.push_back("/bin/sh");

  std::string depot = kDefaultDepot;
  if (opt.depot) {
    depot = *opt.depot;
  } else if (const char* env = getenv("GARDEN_DEPOT")) {
    if (!valid_utf8(env)) return exec_node_cli(argc, argv);
    depot = env;
  }

  std::string socket;
  if (opt.container) {
    Found f = socket_for_handle(depot, *opt.container, socket);
    if (f == Found::kAskNode) return exec_node_cli(argc, argv);
    if (f == Found::kNo)
      return fail("no container '" + *opt.container + "' in " + depot + " (is it running, and is that the depot? see --depot)");
  } else {
    std::string cwd;
    if (!current_dir(cwd) || !valid_utf8(cwd)) return exec_node_cli(argc, argv);
    if (!socket_from_cwd(cwd, socket))
      return fail("which container? pass -c HANDLE, or cd into a container's dir under " + depot +
                  "/containers, or use --pid PID");
  }

  signal(SIGPIPE, SIG_IGN);  // a closed stdout or socket is an error, not a death
  SpawnSpec spec;
  spec.path = opt.command[0];
  spec.args.assign(opt.command.begin() + 1, opt.command.end());
  spec.env = opt.env;
  spec.dir = opt.dir.value_or("");
  spec.user = opt.user.value_or("");
  spec.tty = tty;

  Attachment proc;
  std::string error;
  int code = 0;
  if (!tty) {
    // Our own stdin/stdout/stderr, passed as they are: output never passes through us.
    if (!proc.spawn(socket, spec, error) || !proc.wait(code, error)) return fail(error);
    return code;
  }
  Fd signals(session_signals());
  if (!signals.valid()) return fail(errno_message(errno, "signalfd"));
  terminal_size(spec.cols, spec.rows);
  if (!proc.spawn(socket, spec, error)) return fail(error);
  if (!run_session(proc, proc.take_master(), std::move(signals), code, error)) return fail(error);
  return code;
}

}  // namespace
}  // namespace dosh

int main(int argc, char** argv) { return dosh::run(argc, argv); }
