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

/** A request sent with fds on a connection of its own; the reply and any frame after it. */
async function fdRequest(
  socketPath: string,
  request: Record<string, unknown>,
  fds: readonly number[],
): Promise<{ fd: number; reply: Record<string, unknown>; early: Record<string, unknown> | undefined; passed: number[] }> {
  let fd: number;
  try {
    fd = await connectUnixAsync(socketPath);
  } catch (err) {
    throw unreachable(socketPath, err);
  }
  let reply: Record<string, unknown> | undefined;
  let early: Record<string, unknown> | undefined;
  let protocolError: Error | undefined;
  const decoder = new FrameDecoder({
    frame: (m) => (reply ? (early ??= m) : (reply = m)),
    output: () => {},
    error: (err) => (protocolError = err),
  });
  const passed: number[] = [];
  try {
    await sendFds(fd, encodeFrame(request), fds);
    while (!reply && !protocolError) {
      const { data, fds: got } = await recvFds(fd, 64 << 10, 1);
      passed.push(...got);
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
  return { fd, reply: reply!, early, passed };
}

/** The rest of a connection that carries only the exit frame (and our control frames). */
function exitOf(socketPath: string, fd: number, early: Record<string, unknown> | undefined): { socket: net.Socket; exited: Promise<number> } {
  const socket = new net.Socket({ fd, readable: true, writable: true });
  const exited = new Promise<number>((resolve, reject) => {
    const onExit = (m: Record<string, unknown>) => {
      if (m.t !== 'exit') return;
      resolve(Number(m.code));
      socket.end();
    };
    if (early) onExit(early);
    const rest = new FrameDecoder({ frame: onExit, output: () => {}, error: (err) => socket.destroy(err) });
    socket.on('data', (chunk) => rest.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => reject(unreachable(socketPath, new Error('connection closed before the process exited'))));
  });
  exited.catch(() => {});
  return { socket, exited };
}

export async function spawnDirect(
  socketPath: string,
  request: Record<string, unknown>,
  stdio: readonly [number, number, number] | undefined,
  control: ProcessControl,
): Promise<DirectProcess> {
  const { fd, reply, early, passed } = await fdRequest(socketPath, request, stdio ?? []);
  const { socket, exited } = exitOf(socketPath, fd, early);
  const tty = request.tty !== undefined;
  return new DirectProcess(String(reply.id), Number(reply.pid), tty ? passed[0] : undefined, socket, control, exited);
}

/** A sink attachment: init-d writes one stream of a process into the caller's fd. */
export interface OutputSinkAttachment {
  /** Resolves with the exit code once the stream has ended, every byte is written and the fd closed. */
  done: Promise<number>;
  /** Stops writing early: init-d closes its copy of the fd. */
  close(): void;
}

export async function attachSink(socketPath: string, request: Record<string, unknown>, target: number): Promise<OutputSinkAttachment> {
  const { fd, early } = await fdRequest(socketPath, request, [target]);
  const { socket, exited } = exitOf(socketPath, fd, early);
  return { done: exited, close: () => socket.destroy() };
}
