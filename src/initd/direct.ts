// Direct attachments: the process uses the caller's own fds (passed with
// SCM_RIGHTS), so its output never passes through init-d or Node. With a
// tty, init-d hands back the pty master instead and the caller copies.

import net from 'node:net';
import { connectUnixAsync, closeFd, recvFds, sendFds } from './native.js';
import { fromReply, unreachable } from './errors.js';
import { FrameDecoder, encodeFrame } from './protocol.js';
import type { ProcessControl } from './process.js';

export class DirectProcess {
  private readonly exited: Promise<number>;

  /** @internal */
  constructor(
    readonly id: string,
    readonly pid: number,
    /** The pty master (tty only); owned by the caller, who closes it. */
    readonly master: number | undefined,
    private readonly socket: net.Socket,
    private readonly control: ProcessControl,
    exited: Promise<number>,
  ) {
    this.exited = exited;
  }

  /** The exit code, 128+N for signal N. */
  wait(): Promise<number> {
    return this.exited;
  }

  signal(signal: number | NodeJS.Signals): Promise<void> {
    return this.control.signal(this.id, signal);
  }

  resize(cols: number, rows: number): Promise<void> {
    return this.control.resize(this.id, cols, rows);
  }

  /** Stops listening for the exit; the process keeps running. */
  detach(): void {
    this.socket.destroy();
  }
}

export async function spawnDirect(
  socketPath: string,
  request: Record<string, unknown>,
  stdio: readonly [number, number, number] | undefined,
  control: ProcessControl,
): Promise<DirectProcess> {
  let fd: number;
  try {
    fd = await connectUnixAsync(socketPath);
  } catch (err) {
    throw unreachable(socketPath, err);
  }
  let reply: Record<string, unknown> | undefined;
  let exitFrame: Record<string, unknown> | undefined;
  let protocolError: Error | undefined;
  const decoder = new FrameDecoder({
    frame: (m) => (reply ? (exitFrame ??= m) : (reply = m)),
    output: () => {},
    error: (err) => (protocolError = err),
  });
  const passed: number[] = [];
  try {
    await sendFds(fd, encodeFrame(request), stdio ?? []);
    while (!reply && !protocolError) {
      const { data, fds } = await recvFds(fd, 64 << 10, 1);
      passed.push(...fds);
      if (data.length === 0) throw unreachable(socketPath, new Error('closed without a reply'));
      decoder.push(data);
    }
  } catch (err) {
    passed.forEach(closeFd);
    closeFd(fd);
    throw err;
  }
  if (protocolError || !reply!.ok) {
    passed.forEach(closeFd);
    closeFd(fd);
    throw protocolError ?? fromReply(reply!, request.id as string | undefined);
  }

  // From here on the connection only carries the exit frame and our control frames.
  const socket = new net.Socket({ fd, readable: true, writable: true });
  const exited = new Promise<number>((resolve, reject) => {
    const onExit = (m: Record<string, unknown>) => {
      if (m.t !== 'exit') return;
      resolve(Number(m.code));
      socket.end();
    };
    if (exitFrame) onExit(exitFrame);
    const rest = new FrameDecoder({ frame: onExit, output: () => {}, error: (err) => socket.destroy(err) });
    socket.on('data', (chunk) => rest.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => reject(unreachable(socketPath, new Error('connection closed before the process exited'))));
  });
  exited.catch(() => {});
  const tty = request.tty !== undefined;
  return new DirectProcess(String(reply!.id), Number(reply!.pid), tty ? passed[0] : undefined, socket, control, exited);
}
