// What both CLIs do with a terminal: one-line errors, and copying between
// our tty (in raw mode) and a pty master, with resizes on SIGWINCH.

import { writeSync } from 'node:fs';
import tty from 'node:tty';

export function fail(message: string, code = 1): number {
  process.stderr.write(`${(process.argv[1] ?? 'node-garden').split('/').pop()!.replace(/\.js$/, '')}: ${message}\n`);
  return code;
}

/**
 * Copies our stdin to `master` and `master` to our stdout until the process
 * exits; returns its exit code. Our terminal goes raw meanwhile, and comes back.
 */
export async function runOnTerminal(
  master: number,
  resize: (cols: number, rows: number) => Promise<void>,
  wait: () => Promise<number>,
): Promise<number> {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const fromPty = new tty.ReadStream(master);
  fromPty.on('error', () => {}); // EIO when the terminal's last process exits
  fromPty.pipe(process.stdout, { end: false });
  const onInput = (chunk: Buffer) => {
    try {
      writeSync(master, chunk);
    } catch {
      // the process is gone; its exit is on its way
    }
  };
  stdin.on('data', onInput);
  const onResize = () => void resize(process.stdout.columns ?? 80, process.stdout.rows ?? 24).catch(() => {});
  process.on('SIGWINCH', onResize);
  try {
    const code = await wait();
    // Let the last output through before we leave.
    await new Promise<void>((resolve) => {
      if (fromPty.destroyed) return resolve();
      fromPty.once('close', () => resolve());
      setTimeout(resolve, 200).unref();
    });
    return code;
  } finally {
    process.off('SIGWINCH', onResize);
    stdin.off('data', onInput);
    stdin.pause();
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    fromPty.destroy();
  }
}
