// Driving a remote process from our own stdio: output to our stdout/stderr,
// our stdin to it, its exit code back. With a tty: our terminal goes raw
// (keys, ^C included, go to the process), SIGWINCH becomes setTTY, and the
// terminal comes back as it was, whatever happens.

import type { Process, ProcessIO } from '../../api/garden.js';
import type { TTYSpec } from '../../api/types.js';

/** Our terminal's size (80x24 when no stream of ours is a terminal). */
export function windowSize(): { columns: number; rows: number } {
  const out = [process.stdout, process.stderr].find((s) => s.isTTY);
  return { columns: out?.columns || 80, rows: out?.rows || 24 };
}

export function ttySpec(): TTYSpec {
  return { windowSize: windowSize() };
}

export interface SessionOptions {
  tty: boolean;
  /** Send our stdin to the process (its EOF closes the process's stdin). */
  stdin: boolean;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Starts the process with our stdio (`start` is run or attach) and waits for
 * its exit code. Signals we get are passed on: the first as terminate, any
 * further one as kill.
 */
export async function session(start: (io: ProcessIO) => Promise<Process>, opts: SessionOptions): Promise<number> {
  const stdin = process.stdin;
  const raw = opts.tty && stdin.isTTY === true;
  const wasRaw = raw ? stdin.isRaw : false;
  // Raw before the process starts, so no keystroke is echoed or cooked by us.
  if (raw) stdin.setRawMode(true);
  let proc: Process | undefined;
  let signalled = 0;
  const onSignal = () => {
    if (!proc) return;
    proc.signal(signalled++ === 0 ? 'terminate' : 'kill').catch(() => {});
  };
  const onResize = () => {
    proc?.setTTY(ttySpec()).catch(() => {});
  };
  // Whoever reads our output is gone (`garden run ... | head`): the process
  // is killed, as SIGPIPE would kill a local one, and we exit 128+SIGPIPE.
  let outputGone = false;
  let onOutputGone = (): void => {};
  const gone = new Promise<number>((resolve) => (onOutputGone = () => resolve(141)));
  const onOutputError = () => {
    if (outputGone) return;
    outputGone = true;
    proc?.signal('kill').catch(() => {});
    onOutputGone();
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  if (opts.tty) process.on('SIGWINCH', onResize);
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  try {
    proc = await start({
      stdin: opts.stdin ? stdin : undefined,
      stdout: process.stdout,
      stderr: process.stderr,
    });
    if (outputGone) proc.signal('kill').catch(() => {});
    return await Promise.race([proc.wait(), gone]);
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
    process.off('SIGWINCH', onResize);
    process.stdout.off('error', onOutputError);
    process.stderr.off('error', onOutputError);
    if (opts.stdin) stdin.pause();
    if (raw) stdin.setRawMode(wasRaw);
  }
}
