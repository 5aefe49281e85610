// An in-memory Garden backend for unit-testing the server and client only.
// Processes are real host child processes (so run/attach/stdin/signals/exit
// codes are real); output fans out to every attachment with backpressure and
// is buffered (bounded) while nobody is attached, as init-d does.

import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Readable, type Writable } from 'node:stream';
import {
  AlreadyExistsError, ContainerNotFoundError, ExecutableNotFoundError, GardenError, ProcessNotFoundError,
} from '../../src/api/errors.js';
import type {
  AttachOffsets, Backend, Container, Process, ProcessIO, Signal, StreamInSpec, StreamOutSpec,
} from '../../src/api/garden.js';
import type {
  BandwidthLimits, CPULimits, Capacity, ContainerInfo, ContainerSpec, DiskLimits, InfoEntry,
  MemoryLimits, Metrics, MetricsEntry, NetOutRule, ProcessSpec, Properties, TTYSpec,
} from '../../src/api/types.js';

const BUFFER_WHILE_DETACHED = 256 * 1024;

class Fanout {
  private sinks = new Set<Writable>();
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private waiting = 0;

  constructor(private readonly src: Readable) {
    src.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  add(sink: Writable | undefined): void {
    if (!sink) return;
    sink.on('error', () => this.sinks.delete(sink));
    this.sinks.add(sink);
    if (this.backlog.length) {
      for (const b of this.backlog) this.write(sink, b);
      this.backlog = [];
      this.backlogBytes = 0;
      if (this.waiting === 0) this.src.resume();
    }
  }

  remove(sink: Writable | undefined): void {
    if (sink) this.sinks.delete(sink);
  }

  private onData(chunk: Buffer): void {
    if (this.sinks.size === 0) {
      this.backlog.push(chunk);
      this.backlogBytes += chunk.length;
      if (this.backlogBytes >= BUFFER_WHILE_DETACHED) this.src.pause();
      return;
    }
    for (const sink of this.sinks) this.write(sink, chunk);
  }

  private write(sink: Writable, chunk: Buffer): void {
    if (sink.destroyed || sink.writableEnded) return;
    if (!sink.write(chunk)) {
      this.waiting++;
      this.src.pause();
      sink.once('drain', () => {
        if (--this.waiting === 0) this.src.resume();
      });
    }
  }
}

export class FakeProcess implements Process {
  readonly exited: Promise<number>;
  exitCode: number | null = null;
  ttySizes: TTYSpec[] = [];
  signals: Signal[] = [];
  private stdout: Fanout;
  private stderr: Fanout;

  constructor(readonly id: string, readonly child: ChildProcess) {
    this.stdout = new Fanout(child.stdout!);
    this.stderr = new Fanout(child.stderr!);
    child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
        resolve(this.exitCode);
      });
    });
  }

  attachIO(io: ProcessIO): void {
    this.stdout.add(io.stdout);
    this.stderr.add(io.stderr);
    const stdin = io.stdin;
    if (stdin && this.exitCode === null) {
      const dst = this.child.stdin!;
      stdin.on('data', (chunk: Buffer) => {
        if (!dst.destroyed && !dst.write(chunk)) {
          stdin.pause();
          dst.once('drain', () => stdin.resume());
        }
      });
      stdin.on('end', () => dst.end());
      stdin.on('error', () => {}); // a disconnect never kills the process
    }
    void this.exited.then(() => {
      this.stdout.remove(io.stdout);
      this.stderr.remove(io.stderr);
    });
  }

  wait(): Promise<number> {
    return this.exited;
  }

  async setTTY(spec: TTYSpec): Promise<void> {
    this.ttySizes.push(spec);
  }

  async signal(signal: Signal): Promise<void> {
    this.signals.push(signal);
    if (this.exitCode === null) this.child.kill(signal === 'kill' ? 'SIGKILL' : 'SIGTERM');
  }
}

export class FakeContainer implements Container {
  readonly processes = new Map<string, FakeProcess>();
  readonly files = new Map<string, Buffer>();
  readonly netOutRules: NetOutRule[] = [];
  readonly mappedPorts: { hostPort: number; containerPort: number }[] = [];
  properties_: Properties;
  graceTime: number;
  state: 'active' | 'stopped' = 'active';
  readonly created = Date.now();
  private nextProc = 1;

  constructor(readonly backend: FakeBackend, readonly handle: string, readonly spec: ContainerSpec) {
    this.properties_ = { ...(spec.properties ?? {}) };
    this.graceTime = spec.graceTime ?? 0;
    for (const n of spec.netIn ?? []) void this.netIn(n.hostPort, n.containerPort);
    this.netOutRules.push(...(spec.netOut ?? []));
  }

  async stop(kill: boolean): Promise<void> {
    const running = [...this.processes.values()].filter((p) => p.exitCode === null);
    for (const p of running) p.child.kill(kill ? 'SIGKILL' : 'SIGTERM');
    const t = setTimeout(() => running.forEach((p) => p.child.kill('SIGKILL')), 10_000);
    await Promise.all(running.map((p) => p.exited));
    clearTimeout(t);
    this.state = 'stopped';
  }

  async info(): Promise<ContainerInfo> {
    return {
      state: this.state,
      events: [],
      hostIP: '10.254.0.1',
      containerIP: '10.254.0.2',
      containerIPv6: '',
      externalIP: '127.0.0.1',
      containerPath: `/fake/depot/${this.handle}`,
      processIDs: [...this.processes.values()].filter((p) => p.exitCode === null).map((p) => p.id),
      properties: { ...this.properties_ },
      mappedPorts: this.mappedPorts.map((m) => ({ ...m })),
    };
  }

  async streamIn(spec: StreamInSpec): Promise<void> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of spec.tarStream as AsyncIterable<Buffer>) {
      chunks.push(c);
      n += c.length;
      if (spec.path === '/fail' && n > 0) {
        spec.tarStream.destroy();
        throw new GardenError('stream-in failed');
      }
    }
    this.files.set(spec.path, Buffer.concat(chunks));
  }

  async streamOut(spec: StreamOutSpec): Promise<Readable> {
    const data = this.files.get(spec.path);
    if (!data) throw new GardenError(`stream-out: no such file: ${spec.path}`);
    if (spec.path.endsWith('/broken')) {
      // Fails after the first chunk: the client must see an error, not EOF.
      return new Readable({
        read() {
          if (this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
            (this as { sent?: boolean }).sent = true;
            this.push(data.subarray(0, 5000));
            setTimeout(() => this.destroy(new Error('disk on fire')), 20);
          }
        },
      });
    }
    const chunk = 64 * 1024;
    let off = 0;
    return new Readable({
      read() {
        if (off >= data.length) return void this.push(null);
        this.push(data.subarray(off, off + chunk));
        off += chunk;
      },
    });
  }

  async currentBandwidthLimits(): Promise<BandwidthLimits> {
    return { ...(this.spec.limits?.bandwidth ?? {}) };
  }
  async currentCPULimits(): Promise<CPULimits> {
    return { ...(this.spec.limits?.cpu ?? {}) };
  }
  async currentDiskLimits(): Promise<DiskLimits> {
    return { ...(this.spec.limits?.disk ?? {}) };
  }
  async currentMemoryLimits(): Promise<MemoryLimits> {
    return { ...(this.spec.limits?.memory ?? {}) };
  }

  async netIn(hostPort: number, containerPort: number): Promise<{ hostPort: number; containerPort: number }> {
    const h = hostPort || this.backend.nextPort++;
    const m = { hostPort: h, containerPort: containerPort || h };
    this.mappedPorts.push(m);
    return m;
  }

  async netOut(rule: NetOutRule): Promise<void> {
    this.netOutRules.push(rule);
  }

  async bulkNetOut(rules: NetOutRule[]): Promise<void> {
    this.netOutRules.push(...rules);
  }

  async run(spec: ProcessSpec, io: ProcessIO): Promise<Process> {
    const id = spec.id || `proc-${this.handle}-${this.nextProc++}`;
    if (this.processes.get(id)?.exitCode === null) throw new AlreadyExistsError(`process id already in use: ${id}`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const kv of [...(this.spec.env ?? []), ...(spec.env ?? [])]) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const child = spawn(spec.path, spec.args ?? [], { cwd: spec.dir || undefined, env, stdio: 'pipe' });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'ENOENT' ? new ExecutableNotFoundError(`exec: ${spec.path}: not found`) : err);
      });
    });
    const p = new FakeProcess(id, child);
    this.processes.set(id, p);
    p.attachIO(io);
    return p;
  }

  async attach(processId: string, io: ProcessIO, _offsets?: AttachOffsets): Promise<Process> {
    const p = this.processes.get(processId);
    if (!p) throw new ProcessNotFoundError(processId);
    p.attachIO(io);
    return p;
  }

  async metrics(): Promise<Metrics> {
    const zero = {
      activeAnon: 1, activeFile: 2, cache: 3, hierarchicalMemoryLimit: 9223372036854771712n,
      inactiveAnon: 0, inactiveFile: 0, mappedFile: 0, pgfault: 0, pgmajfault: 0, pgpgin: 0, pgpgout: 0, rss: 4,
      totalActiveAnon: 0, totalActiveFile: 0, totalCache: 0, totalInactiveAnon: 0, totalInactiveFile: 0,
      totalMappedFile: 0, totalPgfault: 0, totalPgmajfault: 0, totalPgpgin: 0, totalPgpgout: 0, totalRss: 0,
      totalUnevictable: 0, unevictable: 0, swap: 0, hierarchicalMemswLimit: 18446744073709551615n, totalSwap: 0,
      totalUsageTowardLimit: 5, anon: 0, file: 0, swapcached: 0,
    };
    return {
      memoryStat: zero,
      cpuStat: { usage: 10, user: 6, system: 4 },
      diskStat: { totalBytesUsed: 100, totalInodesUsed: 10, exclusiveBytesUsed: 50, exclusiveInodesUsed: 5 },
      networkStat: this.properties_.nonet ? null : { rxBytes: 7, txBytes: 8 },
      pidStat: { current: this.processes.size, max: 1024 },
      age: Date.now() - this.created,
      cpuEntitlement: 42,
    };
  }

  async setGraceTime(ms: number): Promise<void> {
    this.graceTime = ms;
  }

  async properties(): Promise<Properties> {
    return { ...this.properties_ };
  }

  async property(name: string): Promise<string> {
    if (!(name in this.properties_)) throw new GardenError(`property does not exist: ${name}`);
    return this.properties_[name];
  }

  async setProperty(name: string, value: string): Promise<void> {
    this.properties_[name] = value;
  }

  async removeProperty(name: string): Promise<void> {
    delete this.properties_[name];
  }

  kill(): void {
    for (const p of this.processes.values()) if (p.exitCode === null) p.child.kill('SIGKILL');
  }
}

export class FakeBackend implements Backend {
  readonly containers_ = new Map<string, FakeContainer>();
  nextPort = 61000;
  pingError: Error | null = null;
  /** Makes destroy slow, to test concurrent destroys. */
  destroyDelayMs = 0;
  destroyed: string[] = [];
  /** Called when a destroy has begun (before its delay), so tests can sequence on it. */
  onDestroyStart?: (handle: string) => void;
  /** When set, destroys also wait for it: a test holds a destroy open as long as it needs. */
  destroyGate?: Promise<void>;
  private nextHandle = 1;

  async ping(): Promise<void> {
    if (this.pingError) throw this.pingError;
  }

  async capacity(): Promise<Capacity> {
    return { memoryInBytes: 1111, diskInBytes: 2222, schedulableDiskInBytes: 18446744073709551615n, maxContainers: 42 };
  }

  async create(spec: ContainerSpec): Promise<Container> {
    const handle = spec.handle || `fake-${this.nextHandle++}`;
    if (this.containers_.has(handle)) throw new AlreadyExistsError(`handle already exists: ${handle}`);
    const c = new FakeContainer(this, handle, spec);
    this.containers_.set(handle, c);
    return c;
  }

  async destroy(handle: string): Promise<void> {
    const c = this.containers_.get(handle);
    if (!c) throw new ContainerNotFoundError(handle);
    this.onDestroyStart?.(handle);
    if (this.destroyDelayMs) await new Promise((r) => setTimeout(r, this.destroyDelayMs));
    if (this.destroyGate) await this.destroyGate;
    c.kill();
    this.containers_.delete(handle);
    this.destroyed.push(handle);
  }

  async containers(properties?: Properties): Promise<Container[]> {
    return [...this.containers_.values()].filter((c) =>
      Object.entries(properties ?? {}).every(([k, v]) => c.properties_[k] === v));
  }

  async bulkInfo(handles: string[]): Promise<Record<string, InfoEntry>> {
    const out: Record<string, InfoEntry> = {};
    for (const h of handles) {
      const c = this.containers_.get(h);
      out[h] = c ? { info: await c.info() } : { error: new ContainerNotFoundError(h) };
    }
    return out;
  }

  async bulkMetrics(handles: string[]): Promise<Record<string, MetricsEntry>> {
    const out: Record<string, MetricsEntry> = {};
    for (const h of handles) {
      const c = this.containers_.get(h);
      out[h] = c ? { metrics: await c.metrics() } : { error: new ContainerNotFoundError(h) };
    }
    return out;
  }

  async lookup(handle: string): Promise<Container> {
    const c = this.containers_.get(handle);
    if (!c) throw new ContainerNotFoundError(handle);
    return c;
  }

  async graceTime(handle: string): Promise<number> {
    const c = this.containers_.get(handle);
    if (!c) throw new ContainerNotFoundError(handle);
    return c.graceTime;
  }

  async close(): Promise<void> {}

  /** Test cleanup: kill every child process. */
  killAll(): void {
    for (const c of this.containers_.values()) c.kill();
  }
}
