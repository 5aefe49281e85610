// The server's side of a process attachment's output (protocol §6.5): one
// OutputSink per stream (stdout, stderr) handed to the backend as a Writable.
// It buffers until the client's stream connection arrives, then writes
// straight to that socket with backpressure (a slow reader slows the
// process; nothing is dropped), and ends the socket once the attachment is
// over and everything captured before that has been written.
//
// Throughput: the backend hands over output in socket-read-sized chunks
// (~64 KiB), often many in one event-loop turn. Writing each one with its own
// syscall costs more than the bytes (on TCP every send pushes segments and
// ACKs through the stack), so the chunks of one turn are gathered with
// cork() and leave in one writev when the turn's I/O is done (setImmediate).
// Up to WRITE_AHEAD bytes may wait in the socket before the backend is held
// back; that bounds the memory per stream.
//
// Direct output: when the backend offers it (see api/direct-output.ts), the
// sink hands its socket's fd to the backend once the reader has connected
// and everything buffered has left; from then on the process's output goes
// from the container's init-d into the socket without passing through Node.

import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { directOutput, type TakeOver } from '../api/direct-output.js';
import { hijackHead } from '../wire/http.js';

export interface SinkOptions {
  /** Bytes buffered while no reader is connected before backpressure starts. */
  maxPending: number;
  /**
   * After this long without a reader the stream is taken as unwanted (the
   * client did not ask for it) and stops holding the process back; output
   * beyond maxPending is then discarded.
   */
  unclaimedMs: number;
}

type Callback = (err?: Error | null) => void;

/** Bytes queued in a reader's socket before the backend's writes are held. */
const WRITE_AHEAD = 1024 * 1024;

export class OutputSink extends Writable {
  private socket: Socket | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private held: Callback | null = null;
  private heldLen = 0;
  /** Bytes still to pass after detach before the stream is complete. */
  private remaining = -1;
  private complete = false;
  private discard = false;
  private unclaimed = false;
  private consumed = false;
  private unclaimedTimer: NodeJS.Timeout;
  /** An uncork is scheduled for the current socket. */
  private batching = false;
  private takeOver: TakeOver | null = null;
  /** Ends the backend's direct output, once it has taken the socket over. */
  private endDirect: (() => void) | null = null;
  private readonly flushBatch = (): void => {
    this.batching = false;
    const socket = this.socket;
    if (socket && !socket.destroyed) socket.uncork();
  };

  constructor(private readonly opts: SinkOptions) {
    super({ highWaterMark: 64 * 1024 });
    // Errors from a misbehaving writer (write after end) must never crash us.
    this.on('error', () => {});
    this.unclaimedTimer = setTimeout(() => this.unclaim(), opts.unclaimedMs);
    this.unclaimedTimer.unref();
  }

  [directOutput](takeOver: TakeOver): void {
    this.takeOver = takeOver;
    if (this.socket) this.startDirect(this.socket);
  }

  private startDirect(socket: Socket): void {
    const takeOver = this.takeOver;
    if (!takeOver || socketFd(socket) === null) return;
    this.takeOver = null;
    takeOver(() => this.idleFd(socket)).then((end) => {
      if (!end) return;
      // init-d has its own copy now: closing ours neither ends nor resets the connection.
      this.endDirect = end;
      if (this.socket === socket) this.socket = null;
      this.consumed = true;
      this.discard = true;
      clearTimeout(this.unclaimedTimer);
      socket.destroy();
      this.release();
      if (this.complete) end();
    }, () => {});
  }

  /** The socket's fd once everything written to it has left, or null if it is gone. */
  private idleFd(socket: Socket): Promise<number | null> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (fd: number | null) => {
        if (!settled) resolve(fd);
        settled = true;
      };
      socket.once('close', () => done(null));
      const check = () => {
        if (settled) return;
        if (socket.destroyed || this.socket !== socket) return done(null);
        if (this.batching) return void setImmediate(check); // uncorked at the end of this turn
        // An empty write completes after every write before it.
        if (socket.writableLength > 0) return void socket.write(Buffer.alloc(0), check);
        done(socketFd(socket));
      };
      check();
    });
  }

  /**
   * Nobody is coming for this stream (Go clients open stdout, then stderr,
   * before sending anything on the control connection): stop holding the
   * process back.
   */
  unclaim(): void {
    clearTimeout(this.unclaimedTimer);
    if (this.socket || this.consumed || this.unclaimed) return;
    this.unclaimed = true;
    this.release();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    if (this.discard || this.complete) return cb();
    if (this.remaining >= 0) {
      this.remaining -= chunk.length;
      this.deliver(chunk, null);
      cb();
      if (this.remaining <= 0) this.finish();
      return;
    }
    this.deliver(chunk, cb);
  }

  private deliver(chunk: Buffer, cb: Callback | null): void {
    const socket = this.socket;
    if (socket) {
      if (!this.batching) {
        // Gather this turn's chunks into one writev (see the top of the file).
        this.batching = true;
        socket.cork();
        setImmediate(this.flushBatch);
      }
      socket.write(chunk);
      if (!cb) return;
      if (socket.writableLength < WRITE_AHEAD) cb();
      else this.hold(cb, chunk.length);
      return;
    }
    if (this.unclaimed && this.pendingBytes >= this.opts.maxPending) { cb?.(); return; }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!cb) return;
    if (this.pendingBytes < this.opts.maxPending || this.unclaimed) cb();
    else this.hold(cb, chunk.length);
  }

  private hold(cb: Callback, len: number): void {
    this.held = cb;
    this.heldLen = len;
  }

  private release(): void {
    const cb = this.held;
    this.held = null;
    this.heldLen = 0;
    cb?.();
  }

  override _final(cb: Callback): void {
    // The backend ended the stream itself: complete once flushed.
    if (!this.complete) this.finish();
    cb();
  }

  /** The attachment is over: deliver what was captured so far, then EOF. */
  detach(): void {
    if (this.complete || this.remaining >= 0) return;
    const queued = this.writableLength - (this.held ? this.heldLen : 0);
    if (queued <= 0) return this.finish();
    this.remaining = queued;
    // Nobody reading yet: let the captured rest flow into the buffer.
    if (!this.socket) this.release();
  }

  private finish(): void {
    this.complete = true;
    this.endDirect?.();
    clearTimeout(this.unclaimedTimer);
    if (this.socket) {
      this.socket.end();
      this.socket = null;
      this.consumed = true;
      this.pending = [];
    }
    this.release();
    this.discard = true;
  }

  /** A client's Stdout/Stderr connection for this stream (head not yet sent). */
  connect(socket: Socket): void {
    const head = Buffer.from(hijackHead(200, false), 'latin1');
    if (this.socket || this.consumed) {
      // Already being read, or gone: an empty stream (§6.5).
      socket.end(head);
      return;
    }
    clearTimeout(this.unclaimedTimer);
    // Writes are gathered here already; the last bytes before a pause or the
    // end should not wait for an ACK (Go's server sets TCP_NODELAY too).
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.resume(); // nothing more comes from the client; notice its close
    const buffered = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.complete) {
      this.consumed = true;
      socket.end(Buffer.concat([head, ...buffered]));
      return;
    }
    this.socket = socket;
    // Head and buffered output in one writev, without copying them together.
    socket.cork();
    socket.write(head);
    for (const b of buffered) socket.write(b);
    socket.uncork();
    socket.on('drain', () => this.release());
    socket.on('close', () => this.gone(socket));
    if (socket.writableLength < WRITE_AHEAD) this.release();
    this.startDirect(socket);
  }

  private gone(socket: Socket): void {
    if (this.socket !== socket) return;
    // The reader vanished: never stall the process on its account.
    this.socket = null;
    this.consumed = true;
    this.discard = true;
    this.release();
  }

  /** Drops buffered output of a stream nobody came for. */
  expire(): void {
    clearTimeout(this.unclaimedTimer);
    this.pending = [];
    this.pendingBytes = 0;
    this.consumed = true;
    this.discard = true;
    this.release();
  }

  /** Server shutdown: close at once. */
  abort(): void {
    this.endDirect?.();
    this.socket?.destroy();
    this.expire();
  }
}

/** The fd under a socket (unix or TCP), or null. */
function socketFd(socket: Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

export interface StreamPair { stdout: OutputSink; stderr: OutputSink }

/**
 * Stream ids -> sinks. Ids are a decimal counter, as Go's server uses; an
 * id stays servable for `retainMs` after its attachment ends.
 */
export class StreamRegistry {
  private next = 1;
  private streams = new Map<string, StreamPair>();
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: SinkOptions & { retainMs: number }) {}

  create(): { id: string; pair: StreamPair } {
    const id = String(this.next++);
    const pair = { stdout: new OutputSink(this.opts), stderr: new OutputSink(this.opts) };
    this.streams.set(id, pair);
    return { id, pair };
  }

  get(id: string): StreamPair | undefined {
    return this.streams.get(id);
  }

  /** Ends both streams and forgets the id after the retention period. */
  end(id: string): void {
    const pair = this.streams.get(id);
    if (!pair) return;
    pair.stdout.detach();
    pair.stderr.detach();
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.streams.delete(id);
      pair.stdout.expire();
      pair.stderr.expire();
    }, this.opts.retainMs);
    t.unref();
    this.timers.add(t);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const pair of this.streams.values()) {
      pair.stdout.abort();
      pair.stderr.abort();
    }
    this.streams.clear();
  }

  get size(): number {
    return this.streams.size;
  }
}
