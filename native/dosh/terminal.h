// A tty session: our terminal raw, stdin copied to the pty master and the
// master to stdout, resizes on SIGWINCH, until the exit frame.
#pragma once

#include <cstdint>
#include <string>

#include "dosh/client.h"

namespace dosh {

// Blocks the signals the session handles (SIGWINCH, and the ones that would
// otherwise kill us with the terminal left raw) and opens a signalfd for
// them. Call before spawning, so no resize is lost. Returns -1 with errno.
int session_signals();

// Our terminal's size (stdout), or 80x24 when it is not a terminal.
void terminal_size(uint32_t& cols, uint32_t& rows);

// Runs the session; the terminal is restored on every way out (a fatal
// signal included: it is restored, then the signal is raised again).
// Returns the exit code, or false with `error`.
bool run_session(Attachment& proc, Fd master, Fd signals, int& code, std::string& error);

}  // namespace dosh
