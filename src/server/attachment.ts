// One Run or Attach: the control connection's NDJSON both ways (protocol
// §6.2-6.6), the stdin source handed to the backend, and the end of the
// attachment (final payload, stdin closed, output streams flushed & closed).

import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Process, ProcessIO } from '../api/garden.js';
import type { TTYSpec } from '../api/types.js';
import { ProcessPayload, type ProcessPayloadT } from '../wire/codec.js';
import { hijackHead } from '../wire/http.js';
import { JsonStreamReader } from '../wire/ndjson.js';
import { decode, encode } from '../wire/schema.js';
import type { Logger } from './logger.js';
import type { StreamPair, StreamRegistry } from './streams.js';

/** Process stdin as a Readable; reading pauses the control socket when full. */
class StdinSource extends Readable {
  onDemand: () => void = () => {};
  constructor() {
    super({ highWaterMark: 1024 * 1024 });
    // A disconnect is an error on stdin (§10.2.5); nobody may crash on it.
    this.on('error', () => {});
  }
  override _read(): void {
    this.onDemand();
  }
}

const clamp16 = (n: number | undefined) => (n === undefined ? undefined : Math.max(0, Math.min(0xffff, n)));

export class Attachment {
  readonly streamId: string;
  readonly streams: StreamPair;
  private readonly stdin = new StdinSource();
  private socket: Socket | null = null;
  private ended = false;
  private stdinEnded = false;
  private process: Process | null = null;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly log: Logger,
    private readonly onEnd: () => void,
  ) {
    const { id, pair } = registry.create();
    this.streamId = id;
    this.streams = pair;
  }

  /** What the backend gets: its own stdin source and output sinks. */
  get io(): ProcessIO {
    return { stdin: this.stdin, stdout: this.streams.stdout, stderr: this.streams.stderr };
  }

  /** The backend could not start/find the process: nothing was sent yet. */
  cancel(): void {
    this.stdin.destroy();
    this.finishStreams();
  }

  /** Sends the head and first payload, then runs the control protocol. */
  start(socket: Socket, leftover: Buffer, process: Process, status: 200 | 201): void {
    this.socket = socket;
    this.process = process;
    const first = encode(ProcessPayload, { processId: process.id, streamId: this.streamId });
    socket.write(hijackHead(status, true) + first);

    const reader = new JsonStreamReader();
    const onData = (chunk: Buffer) => {
      let values;
      try {
        values = reader.push(chunk);
      } catch {
        // Malformed input is treated as a disconnect (§6.4).
        socket.destroy();
        return;
      }
      for (const v of values) {
        let msg: ProcessPayloadT;
        try {
          msg = decode<ProcessPayloadT>(ProcessPayload, v);
        } catch {
          socket.destroy();
          return;
        }
        this.dispatch(msg);
      }
    };
    this.stdin.onDemand = () => socket.resume();
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.on('close', () => this.disconnected());
    // Bytes that came with the request belong to this stream (§6.3).
    if (leftover.length) socket.unshift(leftover);
    socket.resume();

    Promise.resolve().then(() => process.wait()).then(
      (exitStatus) => this.finish({ processId: process.id, exitStatus }),
      (err: unknown) => this.finish({ processId: process.id, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  // Messages are handled in arrival order, and a resize is applied before the
  // stdin that follows it (a client resizing and then typing expects that).
  private queued: ProcessPayloadT[] = [];
  private resizing = false;

  private dispatch(msg: ProcessPayloadT): void {
    this.queued.push(msg);
    this.drainQueue();
  }

  private drainQueue(): void {
    while (this.queued.length && !this.resizing) this.handle(this.queued.shift()!);
  }

  private handle(msg: ProcessPayloadT): void {
    const proc = this.process!;
    // The client has opened every stream it wants by now.
    this.streams.stdout.unclaim();
    this.streams.stderr.unclaim();
    // Go's dispatch order: tty, then source, then signal (§6.4).
    if (msg.tty) {
      const ws = msg.tty.windowSize;
      const spec: TTYSpec = ws ? { windowSize: { columns: clamp16(ws.columns), rows: clamp16(ws.rows) } } : {};
      // Via a promise so a backend that throws synchronously cannot crash us.
      this.resizing = true;
      Promise.resolve().then(() => proc.setTTY(spec))
        .catch((err: unknown) => this.log.debug({ err, processId: proc.id }, 'set-tty-failed'))
        .finally(() => {
          this.resizing = false;
          this.drainQueue();
        });
    } else if (msg.source !== undefined) {
      if (this.stdinEnded) return;
      if (msg.data !== undefined) {
        if (!this.stdin.push(Buffer.from(msg.data, 'utf8'))) this.socket?.pause();
      } else {
        this.stdinEnded = true;
        this.stdin.push(null);
      }
    } else if (msg.signal === 0 || msg.signal === 1) {
      const signal = msg.signal === 0 ? 'terminate' : 'kill';
      Promise.resolve().then(() => proc.signal(signal))
        .catch((err: unknown) => this.log.error({ err, processId: proc.id }, 'signal-failed'));
    }
    // Anything else is ignored (the Go server's close-stdin quirk is not copied).
  }

  private finish(payload: ProcessPayloadT): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.stdinEnded) {
      this.stdinEnded = true;
      this.stdin.push(null);
    }
    const socket = this.socket!;
    socket.end(encode(ProcessPayload, payload));
    // A client that never closes its side must not keep the socket forever.
    setTimeout(() => socket.destroy(), 10_000).unref();
    this.finishStreams();
  }

  private disconnected(): void {
    if (this.ended) return;
    this.ended = true;
    // The process keeps running; its stdin sees an error, not EOF (§6.6).
    if (!this.stdinEnded) {
      this.stdinEnded = true;
      this.stdin.destroy(new Error('Connection closed'));
    }
    this.finishStreams();
  }

  private finishStreams(): void {
    this.registry.end(this.streamId);
    this.onEnd();
  }

  /** Server shutdown: drop the control connection without a final payload. */
  abort(): void {
    this.socket?.destroy();
  }
}
