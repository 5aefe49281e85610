// DockerBackend: Garden on a Docker Engine. The index (handle -> container)
// is rebuilt in open() from the depot's state files and the engine's labels;
// init-d keeps every process, so a backend killed with SIGKILL loses nothing.

import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import {
  AlreadyExistsError, ContainerNotFoundError, GardenError, InvalidSpecError, ServiceUnavailableError,
} from '../../api/errors.js';
import type { Backend } from '../../api/garden.js';
import type {
  Capacity, ContainerSpec, InfoEntry, MetricsEntry, Properties,
} from '../../api/types.js';
import { BindMountMode, BindMountOrigin } from '../../api/types.js';
import { DockerContainer, type ContainerHost } from './container.js';
import { engine, engineMessage, fromEngine, isUnreachable, statusOf } from './engine.js';
import { GraceReaper } from './grace.js';
import { ImageResolver } from './image.js';
import { diskStorageOpt, hostConfigLimits, isNoQuotaError } from './limits.js';
import { LABEL_DEPOT, LABEL_HANDLE, containerName, generateHandle } from './names.js';
import { cleanupNetwork, detectHost, ensureNetwork, setupNetOut, validateNetOut, type NetworkHost } from './network.js';
import { StateWriter, containerDir, containersDir, listStateNames, readState, writeState, type ContainerState } from './state.js';
import { engineFacts, type EngineFacts } from './userns.js';

export const INITD_IN_CONTAINER = '/.garden/init-d';

/** Depots open in this process (how many backends each): reconciliation only runs for a sole owner. */
const openDepots = new Map<string, number>();
export const RUN_IN_CONTAINER = '/.garden/run';

export interface DockerBackendOptions {
  /** Where state lives (default /var/lib/node-garden). */
  depot?: string;
  /** A dockerode instance, or options for one (default: DOCKER_HOST or /var/run/docker.sock). */
  docker?: Dockerode | Dockerode.DockerOptions;
  /** The static init-d binary (default: build/Release/init-d of this package, or NODE_GARDEN_INITD). */
  initdPath?: string;
  /** Image for specs without one (Garden's default rootfs). */
  defaultRootfs?: string;
  /** Docker network containers join: 'bridge' (default) or 'none'. */
  network?: string;
  /** Destroy containers after their grace time (default true). Off when a server reaps. */
  reap?: boolean;
  /** Capacity's max_containers (default 256). */
  maxContainers?: number;
  /** ContainerInfo.externalIP (default: the first non-internal IPv4 address). */
  externalIP?: string;
  /** Warnings (default: process.emitWarning). */
  warn?: (message: string) => void;
  /** How long create waits for init-d to answer (default 30 s). */
  startTimeoutMs?: number;
}

interface Entry {
  container: DockerContainer;
}

/** The package's root (src/ or dist/src/ alike): the nearest directory up with a package.json. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

function defaultInitd(): string {
  return process.env.NODE_GARDEN_INITD ?? path.join(packageRoot(), 'build/Release/init-d');
}

function externalIPv4(): string {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

export class DockerBackend implements Backend, ContainerHost {
  readonly docker: Dockerode;
  readonly depot: string;
  readonly reaper: GraceReaper | undefined;
  readonly externalIP: string;
  private readonly index = new Map<string, Entry>();
  private readonly reserved = new Set<string>();
  private readonly destroying = new Map<string, Promise<void>>();
  private readonly images: ImageResolver;
  private readonly network: string;
  private readonly warn: (message: string) => void;
  private facts: EngineFacts | undefined;
  private synced: Promise<void> | undefined;
  private netHost: Promise<NetworkHost> | undefined;
  private portChain: Promise<unknown> = Promise.resolve();
  private diskQuota: boolean | undefined;
  private warned = new Set<string>();
  private closed = false;
  /** The engine's event stream (OOM events), reopened after every interruption. */
  private eventStream: Readable | undefined;
  private eventTimer: NodeJS.Timeout | undefined;
  /** Seconds: events from here on are (re)read after a reconnect; duplicates are harmless. */
  private eventsSince = Math.floor(Date.now() / 1000);
  /** The engine was out of reach (or the backend just opened): containers must be checked. */
  private needRecovery = true;
  private recovery: Promise<void> | undefined;

  private constructor(private readonly opts: DockerBackendOptions, readonly initdPath: string) {
    this.depot = path.resolve(opts.depot ?? '/var/lib/node-garden');
    this.docker = opts.docker instanceof Dockerode ? opts.docker : new Dockerode(opts.docker ?? (process.env.DOCKER_HOST ? undefined : { socketPath: '/var/run/docker.sock' }));
    this.images = new ImageResolver(this.docker, opts.defaultRootfs);
    this.network = opts.network ?? 'bridge';
    this.externalIP = opts.externalIP ?? externalIPv4();
    this.warn = opts.warn ?? ((m) => process.emitWarning(m, 'NodeGardenWarning'));
    this.reaper = opts.reap === false ? undefined : new GraceReaper(
      (h) => this.index.get(h)?.container.state.graceTime,
      (h) => this.destroy(h),
      (h, err) => { if (!(err instanceof ContainerNotFoundError)) this.warn(`grace-time destroy of ${h} failed: ${(err as Error).message}`); },
    );
  }

  /** Loads the depot, reconciles it with the engine, and resumes grace-time reaping. */
  static async open(opts: DockerBackendOptions = {}): Promise<DockerBackend> {
    const source = opts.initdPath ?? defaultInitd();
    const b = new DockerBackend(opts, '');
    await fs.mkdir(containersDir(b.depot), { recursive: true });
    await lockDepot(b.depot);
    openDepots.set(b.depot, (openDepots.get(b.depot) ?? 0) + 1);
    // Remapped container roots must traverse the depot to reach their run/ dir.
    await fs.chmod(b.depot, 0o711);
    await fs.chmod(containersDir(b.depot), 0o711);
    const initd = await installInitd(source, b.depot);
    (b as { initdPath: string }).initdPath = initd;
    for (const name of await listStateNames(b.depot)) {
      const state = await readState(b.depot, name).catch(() => undefined);
      if (!state || state.status !== 'created') continue; // rolled back by sync()
      b.add(state);
    }
    let reachable = false;
    try {
      await b.sync();
      reachable = true;
    } catch (err) {
      if (!(err instanceof ServiceUnavailableError)) throw err;
      // The engine is down: serve what the depot knows, reconcile once it is back.
    }
    // OOM events the engine still remembers, back to the oldest container's birth.
    for (const { container } of b.index.values()) b.eventsSince = Math.min(b.eventsSince, Math.floor(container.state.createdAt / 1000));
    if (reachable) await b.catchUp().catch((err) => b.warn(`recovery after open failed: ${(err as Error).message}`));
    // Grace times count again from now: nobody could use a container while no backend ran.
    for (const h of b.index.keys()) b.reaper?.touch(h);
    b.watchEvents();
    return b;
  }

  private add(state: ContainerState): DockerContainer {
    const container = new DockerContainer(this, state, new StateWriter(this.depot, state));
    this.index.set(state.handle, { container });
    return container;
  }

  /** Engine facts and depot/engine reconciliation, once; retried after a failure. */
  private sync(): Promise<void> {
    this.synced ??= this.reconcile().catch((err) => {
      this.synced = undefined;
      throw fromEngine(err);
    });
    return this.synced;
  }

  private async reconcile(): Promise<void> {
    const info = await this.docker.info();
    this.facts = await engineFacts(info);
    if (!this.facts.remapped && !this.warned.has('userns')) {
      this.warned.add('userns');
      this.warn('docker engine has no user-namespace remapping: root in every container is root on the host (privileged: false is not enforced)');
    }
    // Another backend of this process has the depot open: its creates in flight are not ours to roll back.
    if ((openDepots.get(this.depot) ?? 0) > 1) return;
    const listed = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${this.depot}`] } });
    const names = new Set<string>();
    for (const c of listed) {
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      names.add(name);
      const handle = c.Labels[LABEL_HANDLE];
      const entry = this.index.get(handle);
      if (!entry || entry.container.name !== name) {
        // A create that never finished (its state says 'creating', or it has none): roll it back.
        await this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch((err) => { if (statusOf(err) !== 404) throw err; });
        await cleanupNetwork(await this.networkHost().catch(() => undefined), name);
        if (!entry) await fs.rm(containerDir(this.depot, name), { recursive: true, force: true });
      }
    }
    for (const name of await listStateNames(this.depot)) {
      if (names.has(name)) continue;
      const state = await readState(this.depot, name).catch(() => undefined);
      // The engine lost the container (removed behind our back, or a create that died before docker create).
      if (state) {
        const e = this.index.get(state.handle);
        if (e && e.container.name === name) {
          this.index.delete(state.handle);
          this.reaper?.forget(state.handle);
        }
      }
      await cleanupNetwork(await this.networkHost().catch(() => undefined), name);
      await fs.rm(containerDir(this.depot, name), { recursive: true, force: true });
    }
  }

  // ---- ContainerHost ----

  get swapAccounting(): boolean {
    return this.facts?.swapAccounting ?? false;
  }

  get diskEnforced(): boolean {
    return this.diskQuota === true;
  }

  networkHost(): Promise<NetworkHost> {
    this.netHost ??= (async () => {
      let bridge = 'docker0';
      try {
        const n = await this.docker.getNetwork(this.network).inspect();
        bridge = n.Options?.['com.docker.network.bridge.name'] ?? (this.network === 'bridge' ? 'docker0' : `br-${String(n.Id).slice(0, 12)}`);
      } catch {
        // default bridge name
      }
      return detectHost(bridge);
    })().catch((err) => {
      this.netHost = undefined;
      throw err;
    });
    return this.netHost;
  }

  usedPorts(): Set<number> {
    const used = new Set<number>();
    for (const { container } of this.index.values()) for (const m of container.state.netIn) used.add(m.hostPort);
    return used;
  }

  portLock<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.portChain.then(fn);
    this.portChain = next.catch(() => {});
    return next;
  }

  assertLive(handle: string): void {
    if (!this.index.has(handle)) throw new ContainerNotFoundError(handle);
  }

  /** Whether container root is remapped for containers created now (undefined until the engine answered). */
  get userNamespaces(): boolean | undefined {
    return this.facts?.remapped;
  }

  // ---- Garden ----

  async ping(): Promise<void> {
    await engine(() => this.docker.ping());
    await this.sync();
    await this.catchUp();
  }

  // ---- engine events and recovery ----

  /**
   * Follows the engine's events for this depot's containers: "oom" becomes
   * the container's Garden event. When the stream breaks (the engine went
   * away or restarted) it is reopened every second, from the last event seen,
   * and once it is back every container is checked (catchUp).
   */
  private watchEvents(): void {
    if (this.closed || this.eventStream || this.eventTimer) return;
    const filters = { type: ['container'], event: ['oom'], label: [`${LABEL_DEPOT}=${this.depot}`] };
    this.docker.getEvents({ since: this.eventsSince, filters } as unknown as Dockerode.GetEventsOptions).then((raw) => {
      const stream = raw as unknown as Readable & { socket?: { unref?: () => void } };
      if (this.closed) {
        stream.destroy();
        return;
      }
      stream.socket?.unref?.(); // a backend dropped without close() must not hold the process
      this.eventStream = stream;
      this.catchUp().catch(() => {});
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) this.onEngineEvent(line);
        }
      });
      const gone = () => {
        if (this.eventStream !== stream) return;
        this.eventStream = undefined;
        this.needRecovery = true;
        this.retryEvents();
      };
      stream.once('end', gone);
      stream.once('close', gone);
      stream.once('error', gone);
    }, () => {
      this.needRecovery = true;
      this.retryEvents();
    });
  }

  private retryEvents(): void {
    if (this.closed || this.eventTimer) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      this.watchEvents();
    }, 1000);
    this.eventTimer.unref();
  }

  private onEngineEvent(line: string): void {
    let ev: { Action?: string; status?: string; id?: string; time?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof ev.time === 'number') this.eventsSince = Math.max(this.eventsSince, ev.time);
    if ((ev.Action ?? ev.status) !== 'oom') return;
    const id = ev.Actor?.ID ?? ev.id;
    const e = this.index.get(ev.Actor?.Attributes?.[LABEL_HANDLE] ?? '');
    // A handle reused since then is another container.
    if (!e || (e.container.state.id && id && e.container.state.id !== id)) return;
    e.container.noteEvent('oom').catch((err) => this.warn(`recording an oom event for ${e.container.handle}: ${(err as Error).message}`));
  }

  /** Runs the container check once after the engine was (or may have been) away. */
  private catchUp(): Promise<void> {
    if (this.needRecovery && !this.closed) {
      this.needRecovery = false;
      this.recovery = this.recoverAll().catch((err) => {
        this.needRecovery = true;
        throw err;
      });
    }
    return this.recovery ?? Promise.resolve();
  }

  /**
   * Brings every container back to what its state says: a container the
   * engine stopped (an engine restart without live-restore kills them all)
   * is started again, init-d comes back as PID 1 and its network rules are
   * rebuilt for its new veth and address (its processes did not survive the
   * engine); for a running one, rules missing from the kernel are put back.
   * A container the engine no longer has is forgotten.
   */
  private async recoverAll(): Promise<void> {
    await this.sync();
    if ((openDepots.get(this.depot) ?? 0) > 1) return; // the depot's first backend does this
    const todo = [...this.index.values()].map((e) => e.container);
    const worker = async () => {
      for (let c = todo.shift(); c; c = todo.shift()) {
        if (this.destroying.has(c.handle) || this.index.get(c.handle)?.container !== c) continue;
        try {
          await this.recoverOne(c);
        } catch (err) {
          if (this.index.get(c.handle)?.container === c && !this.destroying.has(c.handle))
            this.warn(`recovering container ${c.handle} failed: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  private async recoverOne(c: DockerContainer): Promise<void> {
    let i: Dockerode.ContainerInspectInfo;
    try {
      i = await c.docker.inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw fromEngine(err);
      this.index.delete(c.handle);
      this.reaper?.forget(c.handle);
      await cleanupNetwork(await this.networkHost().catch(() => undefined), c.name);
      await fs.rm(containerDir(this.depot, c.name), { recursive: true, force: true });
      return;
    }
    if (i.State.OOMKilled) await c.noteEvent('oom');
    if (!i.State.Running) {
      await fs.rm(c.initd.socketPath, { force: true });
      await c.docker.start().catch((err) => { if (statusOf(err) !== 304) throw fromEngine(err, c.handle); });
      await this.waitForInitd(c, c.docker);
      if (this.network !== 'none') await c.rewire();
      return;
    }
    if (c.state.ip) {
      const restored = await ensureNetwork(await this.networkHost(), c.name, c.state.ip, c.state.netIn, c.state.netOut);
      if (restored) this.warn(`restored ${restored} missing network rule(s) of container ${c.handle}`);
    }
  }

  async capacity(): Promise<Capacity> {
    let disk = 0;
    let free = 0;
    try {
      const st = await fs.statfs(this.facts?.dockerRootDir ?? '/var/lib/docker');
      disk = st.blocks * st.bsize;
      free = st.bavail * st.bsize;
    } catch {
      const st = await fs.statfs(this.depot);
      disk = st.blocks * st.bsize;
      free = st.bavail * st.bsize;
    }
    return { memoryInBytes: os.totalmem(), diskInBytes: disk, schedulableDiskInBytes: free, maxContainers: this.opts.maxContainers ?? 256 };
  }

  async lookup(handle: string): Promise<DockerContainer> {
    const e = this.index.get(handle);
    // A container being destroyed is already gone for lookups (as for containers()).
    if (!e || this.destroying.has(handle)) throw new ContainerNotFoundError(handle);
    this.reaper?.touch(handle);
    return e.container;
  }

  async containers(filter: Properties = {}): Promise<DockerContainer[]> {
    const out: DockerContainer[] = [];
    for (const { container } of this.index.values()) {
      if (this.destroying.has(container.handle)) continue;
      const props = container.allProperties();
      if (Object.entries(filter).every(([k, v]) => Object.hasOwn(props, k) && props[k] === v)) out.push(container);
    }
    return out;
  }

  async bulkInfo(handles: string[]): Promise<Record<string, InfoEntry>> {
    const out: Record<string, InfoEntry> = {};
    await Promise.all(handles.map(async (h) => {
      try {
        out[h] = { info: await (await this.lookup(h)).info() };
      } catch (error) {
        out[h] = { error: error as Error };
      }
    }));
    return out;
  }

  async bulkMetrics(handles: string[]): Promise<Record<string, MetricsEntry>> {
    const out: Record<string, MetricsEntry> = {};
    await Promise.all(handles.map(async (h) => {
      try {
        out[h] = { metrics: await (await this.lookup(h)).metrics() };
      } catch (error) {
        out[h] = { error: error as Error };
      }
    }));
    return out;
  }

  async graceTime(handle: string): Promise<number> {
    const e = this.index.get(handle);
    if (!e) throw new ContainerNotFoundError(handle);
    return e.container.state.graceTime;
  }

  async create(spec: ContainerSpec): Promise<DockerContainer> {
    if (this.closed) throw new ServiceUnavailableError('backend is closed');
    const handle = spec.handle || generateHandle();
    if (this.index.has(handle) || this.reserved.has(handle)) throw new AlreadyExistsError(`handle already exists: ${handle}`);
    this.reserved.add(handle);
    try {
      await this.sync();
      return await this.createReserved(handle, spec);
    } finally {
      this.reserved.delete(handle);
    }
  }

  private async createReserved(handle: string, spec: ContainerSpec): Promise<DockerContainer> {
    const facts = this.facts!;
    if (spec.network) throw new InvalidSpecError(`custom container networks (${spec.network}) are not supported by the docker backend`);
    for (const r of spec.netOut ?? []) validateNetOut(r);
    // User bind mounts as Mounts entries (not "src:dst:mode" strings): any character in a path is safe.
    const mounts: Array<{ Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }> = [];
    for (const m of spec.bindMounts ?? []) {
      if (m.origin === BindMountOrigin.Container) throw new InvalidSpecError('bind mounts from inside the container are not supported by the docker backend');
      if (!m.srcPath || !m.dstPath || !m.dstPath.startsWith('/')) throw new InvalidSpecError('bind mount needs a source and an absolute destination');
      if (!existsSync(m.srcPath)) throw new InvalidSpecError(`bind mount source does not exist: ${m.srcPath}`);
      if (m.dstPath === '/.garden' || m.dstPath.startsWith('/.garden/')) throw new InvalidSpecError(`bind mount destination is reserved: ${m.dstPath}`);
      mounts.push({ Type: 'bind', Source: path.resolve(m.srcPath), Target: m.dstPath, ReadOnly: m.mode !== BindMountMode.RW });
    }
    const limits = hostConfigLimits(spec.limits, facts.swapAccounting);
    const image = await this.images.resolve(spec.image, spec.rootfsPath);
    const privileged = Boolean(spec.privileged);
    const remapped = facts.remapped && !privileged;
    const name = containerName(this.depot, handle);
    const dir = containerDir(this.depot, name);
    const runDir = path.join(dir, 'run');

    const state: ContainerState = {
      version: 1, handle, name, status: 'creating', createdAt: Date.now(),
      graceTime: spec.graceTime ?? 0, properties: { ...(spec.properties ?? {}) },
      env: [...image.env, ...(spec.env ?? [])], image: image.ref, privileged, remapped,
      limits: structuredClone(spec.limits ?? {}), bindMounts: structuredClone(spec.bindMounts ?? []),
      netIn: [], netOut: [], ip: '', stopped: false, events: [],
    };
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(runDir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o711);
    if (remapped) {
      if (!facts.remapRoot) throw new GardenError('cannot find the remapped root uid (dockremap in /etc/subuid)', 'userns_error');
      await fs.chown(runDir, facts.remapRoot.uid, facts.remapRoot.gid);
    }
    await writeState(this.depot, state);

    let created: Dockerode.Container | undefined;
    let container: DockerContainer | undefined;
    try {
      const hostConfig: Record<string, unknown> = {
        Binds: [`${this.initdPath}:${INITD_IN_CONTAINER}:ro`, `${runDir}:${RUN_IN_CONTAINER}:rw`],
        ...(mounts.length ? { Mounts: mounts } : {}),
        NetworkMode: this.network,
        RestartPolicy: { Name: 'no' },
        ...limits,
      };
      if (facts.remapped && privileged) hostConfig.UsernsMode = 'host';
      const storage = this.diskQuota === false ? undefined : diskStorageOpt(spec.limits?.disk);
      const hostname = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(handle) ? handle : name.slice(0, 63);
      const body = (storageOpt: Record<string, string> | undefined) => ({
        name,
        Image: image.ref,
        Entrypoint: [INITD_IN_CONTAINER, '--socket', `${RUN_IN_CONTAINER}/initd.sock`],
        Cmd: [],
        Env: spec.env ?? [],
        Hostname: hostname,
        Labels: { [LABEL_HANDLE]: handle, [LABEL_DEPOT]: this.depot },
        HostConfig: { ...hostConfig, ...(storageOpt ? { StorageOpt: storageOpt } : {}) },
      });
      try {
        created = await this.docker.createContainer(body(storage));
        if (storage) this.diskQuota = true;
      } catch (err) {
        if (statusOf(err) === 409) throw new AlreadyExistsError(`handle already exists: ${handle}`);
        if (!storage || !isNoQuotaError(engineMessage(err))) throw fromEngine(err);
        this.diskQuota = false;
        this.warnOnce('disk', `disk limits are not enforced: ${engineMessage(err)}`);
        created = await engine(() => this.docker.createContainer(body(undefined)));
      }
      state.id = created.id;
      container = new DockerContainer(this, state, new StateWriter(this.depot, state));
      await engine(() => created!.start());
      await this.waitForInitd(container, created);
      if (this.network !== 'none') {
        const i = await engine(() => created!.inspect());
        state.ip = Object.values(i.NetworkSettings?.Networks ?? {})[0]?.IPAddress ?? '';
      }
      if (state.ip) {
        await setupNetOut(await this.networkHost(), name, state.ip);
        if (spec.netOut?.length) await container.addNetOut(spec.netOut, false);
        for (const m of spec.netIn ?? []) await this.index_(container, () => container!.addNetIn(m.hostPort, m.containerPort, false));
        if (Number(spec.limits?.bandwidth?.rateInBytesPerSecond ?? 0) > 0) await container.applyBandwidth(spec.limits!.bandwidth!);
      } else if (spec.netIn?.length) {
        throw new InvalidSpecError('net-in needs a container network');
      }
      state.status = 'created';
      await writeState(this.depot, state);
    } catch (err) {
      await this.rollback(name, created);
      throw err instanceof GardenError ? err : fromEngine(err);
    }
    this.index.set(handle, { container });
    this.reaper?.touch(handle);
    return container;
  }

  /** Runs fn with the container visible to usedPorts() (for net-in at create). */
  private async index_<T>(c: DockerContainer, fn: () => Promise<T>): Promise<T> {
    const had = this.index.has(c.handle);
    if (!had) this.index.set(c.handle, { container: c });
    try {
      return await fn();
    } finally {
      if (!had) this.index.delete(c.handle);
    }
  }

  private async waitForInitd(c: DockerContainer, created: Dockerode.Container): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    const sock = c.initd.socketPath;
    for (let i = 0; ; i++) {
      if (existsSync(sock)) {
        try {
          await c.initd.ping();
          return;
        } catch {
          // bound but not yet listening
        }
      }
      if (Date.now() > deadline || i % 50 === 49) {
        const s = await engine(() => created.inspect());
        if (!s.State.Running || Date.now() > deadline) {
          const logs = await created.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => '');
          throw new GardenError(`init-d did not start in ${c.name} (${s.State.Status}, exit ${s.State.ExitCode}): ${String(logs).trim()}`, 'start_failed');
        }
      }
      await sleep(i < 100 ? 2 : 20);
    }
  }

  private async rollback(name: string, created: Dockerode.Container | undefined): Promise<void> {
    const target = created ?? this.docker.getContainer(name);
    await target.remove({ force: true, v: true }).catch(() => {});
    await cleanupNetwork(await this.networkHost().catch(() => undefined), name).catch(() => {});
    await fs.rm(containerDir(this.depot, name), { recursive: true, force: true }).catch(() => {});
  }

  async destroy(handle: string): Promise<void> {
    const running = this.destroying.get(handle);
    if (running) return running;
    const e = this.index.get(handle);
    if (!e) throw new ContainerNotFoundError(handle);
    const p = this.destroyEntry(e).finally(() => this.destroying.delete(handle));
    this.destroying.set(handle, p);
    return p;
  }

  private async destroyEntry({ container }: Entry): Promise<void> {
    this.reaper?.forget(container.handle);
    try {
      await container.docker.remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) !== 404) {
        if (isUnreachable(err)) this.reaper?.touch(container.handle);
        throw fromEngine(err);
      }
    }
    // Rules exist only for containers that got an address (network none: nothing to undo).
    if (container.state.ip) await cleanupNetwork(await this.networkHost(), container.name);
    await fs.rm(containerDir(this.depot, container.name), { recursive: true, force: true });
    this.index.delete(container.handle);
  }

  /** Stops reaping and lets go; containers and their processes keep running. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reaper?.close();
    if (this.eventTimer) clearTimeout(this.eventTimer);
    this.eventTimer = undefined;
    this.eventStream?.destroy();
    this.eventStream = undefined;
    const n = (openDepots.get(this.depot) ?? 1) - 1;
    if (n > 0) openDepots.set(this.depot, n);
    else {
      openDepots.delete(this.depot);
      await fs.rm(path.join(this.depot, 'backend.pid'), { force: true });
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(message);
  }
}

/**
 * One process per depot: a second live process would roll back the first
 * one's creates in flight. A stale pid file (its process gone, e.g. after
 * SIGKILL) is taken over.
 */
async function lockDepot(depot: string): Promise<void> {
  const file = path.join(depot, 'backend.pid');
  const other = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
  if (other > 0 && other !== process.pid) {
    let alive = true;
    try {
      process.kill(other, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (alive) throw new GardenError(`depot ${depot} is in use by process ${other}`, 'depot_in_use');
  }
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${process.pid}\n`);
  await fs.rename(tmp, file);
}

/** Copies init-d into the depot (readable by remapped roots, immune to rebuilds of the original). */
async function installInitd(source: string, depot: string): Promise<string> {
  const bin = path.join(depot, 'bin');
  await fs.mkdir(bin, { recursive: true, mode: 0o755 });
  await fs.chmod(bin, 0o755);
  let data: Buffer;
  try {
    data = await fs.readFile(source);
  } catch {
    throw new GardenError(`init-d binary not found at ${source} (build it: npx node-gyp configure && make -C build init-d)`, 'initd_missing');
  }
  const hash = createHash('sha256').update(data).digest('hex').slice(0, 16);
  const target = path.join(bin, `init-d-${hash}`);
  if (!existsSync(target)) {
    const tmp = `${target}.${process.pid}.tmp`;
    await fs.writeFile(tmp, data, { mode: 0o755 });
    await fs.chmod(tmp, 0o755);
    await fs.rename(tmp, target);
  }
  return target;
}
