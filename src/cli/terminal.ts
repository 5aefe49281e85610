// What both CLIs do with a terminal: one-line errors, and copying between
// our tty (in raw mode) and a pty master, with resizes on SIGWINCH.

import { createReadStream, writeSync } from 'node:fs';
import { setNonBlocking } from '../initd/native.js';

/** write(2) until done; a non-blocking stdout may say EAGAIN. */
function writeAllSync(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length; ) {
    try {
      at += writeSync(fd, data, at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return; // nobody reads our output any more; the process's exit code still counts
      throw err;
    }
  }
}

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
  // Blocking reads on the threadpool: libuv's tty reader loses the last
  // kilobytes when the terminal side closes; plain read(2) gets them all.
  setNonBlocking(master, false);
  const fromPty = createReadStream('', { fd: master, highWaterMark: 64 << 10, autoClose: false });
  fromPty.on('error', () => {}); // EIO once the terminal's last process has exited
  // Written synchronously as it arrives: nothing waits in the stream's buffer,
  // where the EIO at the end would discard it.
  fromPty.on('data', (chunk) => writeAllSync(1, chunk as Buffer));
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
    // Let the last output through: the pty reads EIO once its terminal side
    // is closed everywhere (a background child may keep it open: bounded wait).
    await new Promise<void>((resolve) => {
      if (fromPty.destroyed) return resolve();
      fromPty.once('close', () => resolve());
      setTimeout(resolve, 2000).unref();
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
