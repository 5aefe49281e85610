// The host's side of init-d's socket (the dosh protocol): spawn, attach,
// signal, resize, wait, list and stop, as promises and Node streams.

import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { fromReply, unreachable } from './errors.js';
import { DirectProcess, attachSink, spawnDirect, type OutputSinkAttachment } from './direct.js';
import { InitdProcess } from './process.js';
import { FrameDecoder, encodeFrame } from './protocol.js';
import { SlabReader } from '../net/slab-reader.js';
import { keepHeap } from './native.js';

export interface SpawnSpec {
  /** Caller-chosen process id; init-d generates one when absent. A duplicate is an error. */
  id?: string;
  /** Executable; searched in the process's PATH when it has no '/'. */
  path: string;
  /** Arguments after argv[0]. */
  args?: string[];
  /** K=V entries; HOME, USER and PATH get Garden's defaults when absent. */
  env?: string[];
  /** Working directory; defaults to the user's home. */
  dir?: string;
  /** 'name', 'uid', 'uid:gid' or 'name:group' from the container's /etc/passwd; default root. */
  user?: string;
  /** Garden's per-process rlimits (as, core, cpu, ... stack): soft and hard both set. */
  rlimits?: Record<string, number | bigint>;
  /** Run on a pseudo-terminal of this size (0 = leave the default). */
  tty?: { cols?: number; rows?: number };
}

export interface ProcessEntry {
  id: string;
  pid: number;
  tty: boolean;
  running: boolean;
  code?: number;
}

export interface Offsets {
  stdout?: number;
  stderr?: number;
}

type Reply = Record<string, unknown>;

export class InitdClient {
  constructor(readonly socketPath: string) {
    keepHeap();
  }

  async ping(): Promise<{ pid: number; version: string }> {
    const r = await this.call({ op: 'ping' });
    return { pid: Number(r.pid), version: String(r.version) };
  }

  /** Starts a process whose stdio init-d relays (and keeps, for later attaches). */
  async spawn(spec: SpawnSpec): Promise<InitdProcess> {
    return this.openAttachment(spawnRequest(spec, 'relayed'), spec.id, () => ({ stdout: 0, stderr: 0 }));
  }

  /**
   * Starts a process on the caller's own fds: stdio is [stdin, stdout,
   * stderr], used by the process as they are (zero copies). With `tty`, no
   * fds are passed and the result carries the pty master instead.
   */
  async spawnDirect(spec: SpawnSpec, stdio?: readonly [number, number, number]): Promise<DirectProcess> {
    if (!spec.tty && !stdio) throw new TypeError('spawnDirect needs stdio fds unless it runs on a tty');
    return spawnDirect(this.socketPath, spawnRequest(spec, 'direct'), spec.tty ? undefined : stdio, this);
  }

  /**
   * Attaches to a process. Without offsets, output starts at the oldest byte
   * not yet delivered to anyone; with them, exactly there.
   */
  async attach(id: string, offsets: Offsets = {}): Promise<InitdProcess> {
    const req: Reply = { op: 'attach', id };
    if (offsets.stdout !== undefined) req.stdout = offsets.stdout;
    if (offsets.stderr !== undefined) req.stderr = offsets.stderr;
    // Without offsets we learn where we start from the first frame of each stream.
    return this.openAttachment(req, id, () => ({ stdout: offsets.stdout ?? 0, stderr: offsets.stderr ?? 0 }));
  }

  /**
   * Has init-d write one stream of a process straight into `fd` (a socket or
   * pipe of the caller's, which may close its own copy once this resolves),
   * from `offset` on, or from the oldest byte nobody has had. init-d closes
   * the fd once the stream has ended and every byte is written; a reader
   * that goes away makes it discard the rest.
   */
  async sink(id: string, stream: 'stdout' | 'stderr', fd: number, offset?: number): Promise<OutputSinkAttachment> {
    const req: Reply = { op: 'attach', id, sink: stream === 'stdout' ? 1 : 2 };
    if (offset !== undefined) req[stream] = offset;
    return attachSink(this.socketPath, req, fd);
  }

  async signal(id: string, signal: number | NodeJS.Signals): Promise<void> {
    await this.call({ op: 'signal', id, signal: signalNumber(signal) }, id);
  }

  async resize(id: string, cols: number, rows: number): Promise<void> {
    await this.call({ op: 'resize', id, cols, rows }, id);
  }

  /** Resolves with the exit code (128+N for signal N) once the process has exited. */
  async wait(id: string): Promise<number> {
    const r = await this.call({ op: 'wait', id }, id);
    return Number(r.code);
  }

  async list(): Promise<ProcessEntry[]> {
    const r = await this.call({ op: 'list' });
    return (r.procs as Reply[]).map((p) => ({
      id: String(p.id),
      pid: Number(p.pid),
      tty: Boolean(p.tty),
      running: Boolean(p.running),
      ...(p.code === undefined ? {} : { code: Number(p.code) }),
    }));
  }

  /** Stops every process: SIGTERM (SIGKILL with kill), then SIGKILL after timeoutMs. */
  async stop(opts: { kill?: boolean; timeoutMs?: number } = {}): Promise<void> {
    await this.call({ op: 'stop', kill: Boolean(opts.kill), timeout: opts.timeoutMs ?? 10_000 });
  }

  /** One request, one reply, connection closed. */
  private call(request: Reply, processId?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.socketPath);
      let settled = false;
      const done = (err: Error | null, reply?: Reply) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        if (err) reject(err);
        else resolve(reply!);
      };
      const decoder = new FrameDecoder({
        frame: (m) => (m.ok ? done(null, m) : done(fromReply(m, processId))),
        output: () => {},
        error: (err) => done(err),
      });
      socket.on('data', (chunk) => decoder.push(chunk));
      socket.on('error', (err) => done(unreachable(this.socketPath, err)));
      socket.on('close', () => done(unreachable(this.socketPath, new Error('closed without a reply'))));
      socket.write(encodeFrame(request));
    });
  }

  private openAttachment(request: Reply, processId: string | undefined, start: () => { stdout: number; stderr: number }): Promise<InitdProcess> {
    return new Promise((resolve, reject) => {
      // Output frames arrive in slab-backed reads and are handed on as views of them.
      const slabs = new SlabReader();
      let push: (chunk: Buffer) => void = () => {};
      const socket = net.connect({ path: this.socketPath, onread: { buffer: slabs.next, callback: (n, buf) => (push(slabs.take(n, buf as Buffer)), true) } });
      let proc: InitdProcess | undefined;
      let failed = false;
      const fail = (err: Error) => {
        if (proc || failed) return;
        failed = true;
        socket.destroy();
        reject(err);
      };
      const decoder = new FrameDecoder({
        frame: (m) => {
          if (proc) return proc.frame(m);
          if (!m.ok) return fail(fromReply(m, processId));
          proc = new InitdProcess(String(m.id), Number(m.pid), Boolean(m.tty), socket, this, this.socketPath, start());
          resolve(proc);
        },
        output: (stream, offset, data) => proc?.output(stream, offset, data),
        error: (err) => {
          if (proc) socket.destroy(err);
          else fail(err);
        },
      });
      push = (chunk) => decoder.push(chunk);
      socket.on('error', (err) => fail(unreachable(this.socketPath, err)));
      socket.on('close', () => fail(unreachable(this.socketPath, new Error('closed without a reply'))));
      socket.write(encodeFrame(request));
    });
  }
}

export function spawnRequest(spec: SpawnSpec, io: 'relayed' | 'direct'): Reply {
  const req: Reply = { op: 'spawn', path: spec.path, io };
  if (spec.id) req.id = spec.id;
  if (spec.args?.length) req.args = spec.args;
  if (spec.env?.length) req.env = spec.env;
  if (spec.dir) req.dir = spec.dir;
  if (spec.user) req.user = spec.user;
  if (spec.rlimits && Object.keys(spec.rlimits).length) req.rlimits = spec.rlimits;
  if (spec.tty) req.tty = { cols: spec.tty.cols ?? 0, rows: spec.tty.rows ?? 0 };
  return req;
}

export function signalNumber(signal: number | NodeJS.Signals): number {
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (!n) throw new TypeError(`unknown signal ${signal}`);
  return n;
}
