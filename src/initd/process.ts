// One attachment to a process in init-d: its stdio as Node streams, its exit
// code, and the offsets a consumer needs to resume after a crash.

import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { unreachable } from './errors.js';
import { MAX_STDIN_CHUNK, STDERR, STDOUT, encodeFrame } from './protocol.js';

export interface ProcessControl {
  signal(id: string, signal: number | NodeJS.Signals): Promise<void>;
  resize(id: string, cols: number, rows: number): Promise<void>;
}

export class InitdProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** The absolute offset of the next byte each stream will deliver. */
  private readonly next: { stdout: number; stderr: number };
  private readonly exited: Promise<number>;
  private settle: { resolve: (code: number) => void; reject: (err: Error) => void };
  private exitCode: number | undefined;
  private readonly muting = new Map<number, (offset: number | null) => void>();
  private readonly muted = new Set<number>();

  /** @internal Built by InitdClient once the reply has arrived. */
  constructor(
    readonly id: string,
    readonly pid: number,
    readonly tty: boolean,
    private readonly socket: Socket,
    private readonly control: ProcessControl,
    socketPath: string,
    start: { stdout: number; stderr: number },
  ) {
    this.next = { ...start };
    const resume = () => socket.resume();
    // Small buffers keep what is in flight well inside init-d's replay window.
    this.stdout = new Readable({ read: resume, highWaterMark: 256 << 10 });
    this.stderr = new Readable({ read: resume, highWaterMark: 256 << 10 });
    this.stdin = new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _enc, cb) => this.writeStdin(chunk, cb),
      final: (cb) => {
        if (this.exitCode === undefined && !socket.destroyed) socket.write(encodeFrame({ t: 'close' }));
        cb();
      },
    });

    let settle!: { resolve: (code: number) => void; reject: (err: Error) => void };
    this.exited = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    this.exited.catch(() => {}); // a caller that never waits must not see an unhandled rejection
    this.settle = settle;

    socket.on('close', () => {
      if (this.exitCode !== undefined) return;
      const err = unreachable(socketPath, new Error('connection closed before the process exited'));
      for (const resolve of this.muting.values()) resolve(null);
      this.stdout.push(null);
      this.stderr.push(null);
      this.settle.reject(err);
    });
    socket.on('error', () => {}); // reported through 'close'
  }

  /** Resolves with the exit code (128+N for signal N) once all output has been delivered. */
  wait(): Promise<number> {
    return this.exited;
  }

  signal(signal: number | NodeJS.Signals): Promise<void> {
    return this.control.signal(this.id, signal);
  }

  resize(cols: number, rows: number): Promise<void> {
    return this.control.resize(this.id, cols, rows);
  }

  /** Offsets to pass to attach() to resume exactly after what was delivered. */
  offsets(): { stdout: number; stderr: number } {
    return { ...this.next };
  }

  /** Drops this attachment; the process keeps running. */
  detach(): void {
    this.socket.destroy();
  }

  /** @internal Output bytes from the attachment's decoder. */
  output(stream: number, offset: number, data: Buffer): void {
    if (this.muted.has(stream)) return;
    const key = stream === STDERR ? 'stderr' : 'stdout';
    // Bytes before our offset were delivered already (a resumed attachment): skip them.
    const skip = Math.max(0, this.next[key] - offset);
    if (skip >= data.length) return;
    this.next[key] = offset + data.length;
    if (!(stream === STDOUT ? this.stdout : this.stderr).push(skip ? data.subarray(skip) : data)) this.socket.pause();
  }

  /**
   * Stops relaying one stream on this attachment (its Readable ends) and
   * resolves with the offset of the first byte it did not deliver, for a
   * sink attachment to go on from. null when the attachment is over first.
   * Output already on its way still arrives first, so the stream must be
   * read for the mute to come through.
   */
  mute(stream: 'stdout' | 'stderr'): Promise<number | null> {
    const s = stream === 'stdout' ? STDOUT : STDERR;
    if (this.exitCode !== undefined || this.socket.destroyed || this.muting.has(s)) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.muting.set(s, resolve);
      this.socket.write(encodeFrame({ t: 'mute', s }));
    });
  }

  /** @internal Other frames after the reply. */
  frame(m: Record<string, unknown>): void {
    if (m.t === 'muted') {
      const s = Number(m.s);
      const resolve = this.muting.get(s);
      if (!resolve || this.muted.has(s)) return;
      this.muted.add(s);
      (s === STDOUT ? this.stdout : this.stderr).push(null);
      resolve(Number(m.o));
      return;
    }
    if (m.t !== 'exit' || this.exitCode !== undefined) return;
    for (const [s, resolve] of this.muting) {
      resolve(null);
      this.muting.set(s, () => {});
    }
    this.exitCode = Number(m.code);
    this.stdout.push(null);
    this.stderr.push(null);
    this.settle.resolve(this.exitCode);
    this.socket.end();
  }

  private writeStdin(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.exitCode !== undefined || this.socket.destroyed) return cb(); // like a pipe whose reader is gone
    // Completing only once the socket took the bytes carries init-d's backpressure
    // (it stops reading while the process's stdin is full) back to our writer.
    for (let at = 0; at < chunk.length; at += MAX_STDIN_CHUNK) {
      const end = at + MAX_STDIN_CHUNK >= chunk.length;
      this.socket.write(encodeFrame({ t: 'in', d: chunk.subarray(at, at + MAX_STDIN_CHUNK) }), end ? () => cb() : undefined);
    }
  }
}
