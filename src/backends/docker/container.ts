// One Garden container = one Docker container with init-d as PID 1. Every
// process goes through init-d's socket in the container's depot dir; the
// Engine API is used for what lives outside the container (inspect, limits,
// archives), iptables/tc for the network.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import {
  ContainerNotFoundError, ExecutableNotFoundError, GardenError, InvalidSpecError, ServiceUnavailableError,
} from '../../api/errors.js';
import type { AttachOffsets, Container, ProcessIO, StreamInSpec, StreamOutSpec } from '../../api/garden.js';
import type {
  BandwidthLimits, CPULimits, ContainerInfo, DiskLimits, Limits, MemoryLimits, Metrics, NetOutRule,
  PortMapping, ProcessSpec, Properties,
} from '../../api/types.js';
import { InitdClient, type SpawnSpec } from '../../initd/client.js';
import { engine, fromEngine, statusOf } from './engine.js';
import type { GraceReaper } from './grace.js';
import { cpuLimits, cpuShares, hostConfigLimits, memoryLimits } from './limits.js';
import { cgroupDirs, cpuStat, diskUsage, memoryStat, networkStat, oomKills, pidStat } from './metrics.js';
import {
  addNetIn, addNetOut, allocatePort, cleanupNetwork, hostVeth, setBandwidth, setupNetOut, validateNetOut, type NetworkHost,
} from './network.js';
import { DockerProcess } from './process.js';
import { containerDir, type ContainerState, type StateWriter } from './state.js';
import { createReadStream, resolveOwner, sanitizeTar, withTempFile } from './stream.js';

/** Set on containers whose root is the host's root (privileged, or an engine without remapping). */
export const ROOT_IS_HOST_ROOT = 'node-garden.root-is-host-root';

/** What a container needs from its backend. */
export interface ContainerHost {
  readonly docker: Dockerode;
  readonly depot: string;
  readonly reaper: GraceReaper | undefined;
  readonly swapAccounting: boolean;
  readonly diskEnforced: boolean;
  readonly externalIP: string;
  networkHost(): Promise<NetworkHost>;
  /** Host ports mapped by any container of this backend. */
  usedPorts(): Set<number>;
  /** Runs fn with the backend-wide port allocation lock held. */
  portLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Throws ContainerNotFoundError when the handle is gone (destroyed). */
  assertLive(handle: string): void;
}

/** Ids of the backend's own helper processes (mkdir, tar): not the user's, not listed in info. */
const HELPER_PREFIX = '.node-garden-';
const helperId = () => `${HELPER_PREFIX}${randomBytes(6).toString('hex')}`;

const RLIMIT_NAMES = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'sigpending', 'stack'] as const;

export class DockerContainer implements Container {
  readonly initd: InitdClient;

  constructor(
    private readonly host: ContainerHost,
    readonly state: ContainerState,
    private readonly writer: StateWriter,
  ) {
    this.initd = new InitdClient(path.join(containerDir(host.depot, state.name), 'run', 'initd.sock'));
  }

  get handle(): string {
    return this.state.handle;
  }

  get name(): string {
    return this.state.name;
  }

  /** The Docker container (by name: stable across restarts of the backend). */
  get docker(): Dockerode.Container {
    return this.host.docker.getContainer(this.state.id ?? this.state.name);
  }

  /** Every operation: the handle must still exist, and it counts as use for grace time. */
  private use(): void {
    this.host.assertLive(this.handle);
    this.host.reaper?.touch(this.handle);
  }

  save(): Promise<void> {
    return this.writer.save();
  }

  rootIsHostRoot(): boolean {
    return this.state.privileged || !this.state.remapped;
  }

  // ---- processes ----

  async run(spec: ProcessSpec, io: ProcessIO): Promise<DockerProcess> {
    this.use();
    if (this.state.stopped) throw new GardenError(`container ${this.handle} is stopped: no new processes`, 'container_stopped');
    if (spec.image?.uri) throw new InvalidSpecError('a process image is not supported by the docker backend');
    if (spec.bindMounts?.length) throw new InvalidSpecError('process bind mounts need a process image');
    const o = spec.overrideContainerLimits;
    if (o && (cpuShares(o.cpu) > 0 || Number(o.memory?.limitInBytes ?? 0) > 0))
      throw new InvalidSpecError('per-process cgroup limits (overrideContainerLimits) are not supported by the docker backend');
    if (!spec.path) throw new InvalidSpecError('process path is empty');
    if (spec.id?.startsWith(HELPER_PREFIX)) throw new InvalidSpecError(`process ids starting with ${HELPER_PREFIX} are reserved`);
    const rlimits: Record<string, number | bigint> = {};
    for (const k of RLIMIT_NAMES) if (spec.limits?.[k] !== undefined) rlimits[k] = spec.limits[k]!;
    const req: SpawnSpec = {
      path: spec.path,
      args: spec.args ?? [],
      env: [...this.state.env, ...(spec.env ?? [])],
      ...(spec.id ? { id: spec.id } : {}),
      ...(spec.dir ? { dir: spec.dir } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      ...(Object.keys(rlimits).length ? { rlimits } : {}),
      ...(spec.tty ? { tty: { cols: spec.tty.windowSize?.columns ?? 0, rows: spec.tty.windowSize?.rows ?? 0 } } : {}),
    };
    const proc = await this.initd.spawn(req);
    const release = this.host.reaper?.hold(this.handle);
    return new DockerProcess(proc, this.initd, io, { endStdinWithoutSource: true, onSettled: release });
  }

  async attach(processId: string, io: ProcessIO, offsets?: AttachOffsets): Promise<DockerProcess> {
    this.use();
    const proc = await this.initd.attach(processId, {
      ...(offsets?.stdoutOffset !== undefined ? { stdout: offsets.stdoutOffset } : {}),
      ...(offsets?.stderrOffset !== undefined ? { stderr: offsets.stderrOffset } : {}),
    });
    const release = this.host.reaper?.hold(this.handle);
    return new DockerProcess(proc, this.initd, io, { endStdinWithoutSource: false, onSettled: release });
  }

  async stop(kill: boolean): Promise<void> {
    this.use();
    try {
      await this.initd.stop({ kill, timeoutMs: 10_000 });
    } catch (err) {
      if (!(err instanceof ServiceUnavailableError)) throw err; // not running: nothing left to stop
    }
    if (!this.state.stopped) {
      this.state.stopped = true;
      await this.save();
    }
  }

  // ---- info, metrics ----

  private async inspect(): Promise<Dockerode.ContainerInspectInfo> {
    return engine(() => this.docker.inspect(), this.handle);
  }

  async info(): Promise<ContainerInfo> {
    this.use();
    const i = await this.inspect();
    let processIDs: string[] = [];
    if (i.State.Running) {
      try {
        processIDs = (await this.initd.list()).filter((p) => p.running && !p.id.startsWith(HELPER_PREFIX)).map((p) => p.id);
      } catch {
        // init-d is going away with the container
      }
      await this.noteOom(i.State.Pid);
    }
    // PID 1 itself killed by the OOM killer: its cgroup is gone, the engine remembers.
    if (i.State.OOMKilled) await this.noteEvent('oom');
    const net = Object.values(i.NetworkSettings?.Networks ?? {})[0];
    return {
      state: i.State.Running && !this.state.stopped ? 'active' : 'stopped',
      events: [...this.state.events],
      hostIP: net?.Gateway ?? '',
      containerIP: net?.IPAddress ?? '',
      containerIPv6: net?.GlobalIPv6Address ?? '',
      externalIP: this.host.externalIP,
      containerPath: containerDir(this.host.depot, this.name),
      processIDs,
      properties: this.allProperties(),
      mappedPorts: this.state.netIn.map((m) => ({ ...m })),
    };
  }

  /**
   * The memory cgroup's OOM-kill counter (cgroup v1 memory.oom_control): it
   * counts every process the OOM killer took in this container, whether or
   * not anyone was watching the engine's event stream at the time.
   */
  private async noteOom(pid: number): Promise<void> {
    if (this.state.events.includes('oom') || !pid) return;
    let kills = 0;
    try {
      kills = await oomKills(await cgroupDirs(pid));
    } catch {
      return; // the process is gone
    }
    if (kills > 0) await this.noteEvent('oom');
  }

  /** Records a Garden event ("oom") once; persisted, so a restarted backend still reports it. */
  async noteEvent(event: string): Promise<void> {
    if (this.state.events.includes(event)) return;
    this.state.events.push(event);
    await this.save();
  }

  async metrics(): Promise<Metrics> {
    this.use();
    const i = await this.inspect();
    const pid = i.State.Running ? i.State.Pid : 0;
    const dirs = pid ? await cgroupDirs(pid).catch(() => new Map<string, string>()) : new Map<string, string>();
    const upper = (i.GraphDriver?.Data as Record<string, string> | undefined)?.UpperDir;
    const [memoryStat_, cpuStat_, pidStat_, networkStat_, disk] = await Promise.all([
      memoryStat(dirs), cpuStat(dirs), pidStat(dirs), pid ? networkStat(pid) : Promise.resolve(null), diskUsage(upper),
    ]);
    const age = Date.now() - this.state.createdAt;
    const shares = i.HostConfig?.CpuShares || 1024;
    return {
      memoryStat: memoryStat_,
      cpuStat: cpuStat_,
      diskStat: { totalBytesUsed: disk.bytes, totalInodesUsed: disk.inodes, exclusiveBytesUsed: disk.bytes, exclusiveInodesUsed: disk.inodes },
      networkStat: networkStat_,
      pidStat: pidStat_,
      age,
      // CPU time (ns) the container's shares entitle it to over its age, one CPU's worth per 1024 shares.
      cpuEntitlement: Math.round((age * 1e6 * shares) / 1024),
    };
  }

  // ---- limits ----

  async currentBandwidthLimits(): Promise<BandwidthLimits> {
    this.use();
    return { ...(this.state.limits.bandwidth ?? {}) };
  }

  async currentCPULimits(): Promise<CPULimits> {
    this.use();
    return cpuLimits((await this.inspect()).HostConfig ?? {});
  }

  async currentMemoryLimits(): Promise<MemoryLimits> {
    this.use();
    return memoryLimits((await this.inspect()).HostConfig ?? {});
  }

  /** Only what is enforced: {} when the storage driver has no quota support. */
  async currentDiskLimits(): Promise<DiskLimits> {
    this.use();
    return this.host.diskEnforced ? { ...(this.state.limits.disk ?? {}) } : {};
  }

  /**
   * Changes limits of the running container (not part of Garden's contract):
   * memory, CPU shares and pids through the Engine's update, bandwidth with tc.
   * Disk limits cannot change after creation.
   */
  async updateLimits(limits: Limits): Promise<void> {
    this.use();
    if (limits.disk && Object.values(limits.disk).some((v) => Number(v ?? 0) > 0))
      throw new InvalidSpecError('disk limits cannot change after create');
    const update = hostConfigLimits(limits, this.host.swapAccounting);
    if (update.Memory && !update.MemorySwap) update.MemorySwap = -1;
    if (Object.keys(update).length) await engine(() => this.docker.update(update), this.handle);
    if (limits.bandwidth) await this.applyBandwidth(limits.bandwidth);
    this.state.limits = { ...this.state.limits, ...Object.fromEntries(Object.entries(limits).filter(([k]) => k !== 'disk')) };
    await this.save();
  }

  async applyBandwidth(b: BandwidthLimits): Promise<void> {
    const i = await this.inspect();
    if (!i.State.Running) throw new GardenError('container is not running', 'container_stopped');
    await setBandwidth(await hostVeth(i.State.Pid), i.State.Pid, b);
    this.state.limits.bandwidth = { ...b };
  }

  // ---- network ----

  /**
   * Rebuilds every rule of the container for its current address and veth
   * (after the engine restarted it): net-out chain and rules, net-in
   * mappings on their same host ports, bandwidth shaping.
   */
  async rewire(): Promise<void> {
    const i = await this.inspect();
    const ip = Object.values(i.NetworkSettings?.Networks ?? {})[0]?.IPAddress ?? '';
    const host = await this.host.networkHost();
    await cleanupNetwork(host, this.name);
    this.state.ip = ip;
    if (ip) {
      await setupNetOut(host, this.name, ip);
      await addNetOut(this.name, this.state.netOut);
      for (const m of this.state.netIn) await addNetIn(host, this.name, ip, m);
      const bw = this.state.limits.bandwidth;
      if (bw && Number(bw.rateInBytesPerSecond ?? 0) > 0) await this.applyBandwidth(bw);
    }
    await this.save();
  }

  private ip(): string {
    if (!this.state.ip) throw new InvalidSpecError(`container ${this.handle} has no network`);
    return this.state.ip;
  }

  async netIn(hostPort: number, containerPort: number): Promise<PortMapping> {
    this.use();
    return this.addNetIn(hostPort, containerPort);
  }

  async addNetIn(hostPort: number, containerPort: number, save = true): Promise<PortMapping> {
    const ip = this.ip();
    const mapping = await this.host.portLock(async () => {
      const used = this.host.usedPorts();
      if (hostPort && used.has(hostPort)) throw new GardenError(`host port ${hostPort} is already mapped`, 'port_in_use');
      const h = hostPort || (await allocatePort(used));
      const m = { hostPort: h, containerPort: containerPort || h };
      if (m.hostPort > 65535 || m.containerPort > 65535) throw new InvalidSpecError(`invalid port ${m.hostPort}:${m.containerPort}`);
      await addNetIn(await this.host.networkHost(), this.name, ip, m);
      this.state.netIn.push(m);
      return m;
    });
    if (save) await this.save();
    return { ...mapping };
  }

  async netOut(rule: NetOutRule): Promise<void> {
    await this.bulkNetOut([rule]);
  }

  async bulkNetOut(rules: NetOutRule[]): Promise<void> {
    this.use();
    await this.addNetOut(rules);
  }

  async addNetOut(rules: NetOutRule[], save = true): Promise<void> {
    for (const r of rules) validateNetOut(r);
    if (this.state.ip) await addNetOut(this.name, rules);
    this.state.netOut.push(...rules);
    if (save) await this.save();
  }

  // ---- files ----

  private async readEtc(file: string): Promise<string> {
    const i = await this.inspect();
    if (i.State.Running) {
      try {
        return await fs.readFile(`/proc/${i.State.Pid}/root/etc/${file}`, 'utf8');
      } catch {
        // fall back to the archive API
      }
    }
    try {
      const tarStream = await engine(() => this.docker.getArchive({ path: `/etc/${file}` }), this.handle);
      const { default: tar } = await import('tar-stream');
      const ex = tar.extract();
      (tarStream as NodeJS.ReadableStream).pipe(ex);
      for await (const entry of ex) {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      }
    } catch {
      // no such file
    }
    return '';
  }

  async streamIn(spec: StreamInSpec): Promise<void> {
    this.use();
    if (!spec.path || !spec.path.startsWith('/')) throw new InvalidSpecError(`stream-in path must be absolute: ${spec.path}`);
    const owner = resolveOwner(spec.user, await this.readEtc('passwd'), await this.readEtc('group'));
    await withTempFile(path.join(this.host.depot, 'tmp'), async (file) => {
      await sanitizeTar(spec.tarStream, file, owner);
      await this.mkdirAs(spec.path, spec.user);
      const res = await engine(() => this.docker.putArchive(createReadStream(file), { path: spec.path, noOverwriteDirNonDir: true }), this.handle)
        .catch((err) => { throw statusOf((err as GardenError).cause) === 404 ? new GardenError(`stream-in destination ${spec.path} does not exist`, 'path_not_found') : err; });
      if (res && typeof (res as NodeJS.ReadableStream).resume === 'function') (res as NodeJS.ReadableStream).resume();
    });
  }

  /** mkdir -p as the user, through init-d (when the container runs). */
  private async mkdirAs(dir: string, user: string | undefined): Promise<void> {
    let proc;
    try {
      proc = await this.initd.spawn({ id: helperId(), path: 'mkdir', args: ['-p', dir], ...(user ? { user } : {}) });
    } catch (err) {
      if (err instanceof ServiceUnavailableError) return; // stopped container: the archive API still works
      throw err;
    }
    proc.stdin.end();
    proc.stdout.resume();
    const errText: Buffer[] = [];
    proc.stderr.on('data', (d: Buffer) => errText.push(d));
    const code = await proc.wait();
    if (code !== 0) throw new GardenError(`cannot create ${dir}: ${Buffer.concat(errText).toString().trim()}`, 'stream_in_failed');
  }

  /**
   * A tar of `path` as `user` reads it (Garden's semantics: a path ending in
   * "/" streams the directory's contents, otherwise the entry itself under
   * its base name). Root reads through the Engine's archive API (which reads
   * as host root, and works on a container that is not running); any other
   * user gets the container's own `tar` run as that user through init-d, so
   * the kernel applies that user's permissions: what they cannot read fails
   * the stream instead of being handed out.
   */
  async streamOut(spec: StreamOutSpec): Promise<Readable> {
    this.use();
    if (!spec.path) throw new InvalidSpecError('stream-out path is empty');
    if (await this.isRoot(spec.user)) return this.archiveOut(spec.path);
    return this.tarOutAs(spec.path, spec.user!);
  }

  private async isRoot(user: string | undefined): Promise<boolean> {
    if (!user || user === 'root' || user === '0' || /^(root|0):/.test(user)) return true;
    return resolveOwner(user, await this.readEtc('passwd'), await this.readEtc('group')).uid === 0;
  }

  private async archiveOut(p: string): Promise<Readable> {
    try {
      return (await this.docker.getArchive({ path: p.endsWith('/') ? `${p}.` : p })) as unknown as Readable;
    } catch (err) {
      if (statusOf(err) === 404) {
        const msg = String((err as { json?: { message?: string } }).json?.message ?? '');
        if (/no such container/i.test(msg)) throw new ContainerNotFoundError(this.handle);
        throw new GardenError(`stream-out: ${p} does not exist`, 'path_not_found');
      }
      throw fromEngine(err, this.handle);
    }
  }

  private async tarOutAs(p: string, user: string): Promise<Readable> {
    const contents = p.endsWith('/');
    const dir = contents ? p : path.posix.dirname(p);
    let base = contents ? '.' : path.posix.basename(p);
    if (base.startsWith('-')) base = `./${base}`;
    let proc;
    try {
      proc = await this.initd.spawn({ id: helperId(), path: 'tar', args: ['-c', '-f', '-', '-C', dir, base], user, dir: '/' });
    } catch (err) {
      if (err instanceof ExecutableNotFoundError)
        throw new GardenError(`stream-out as ${user} needs tar in the container's image`, 'stream_out_failed');
      throw err;
    }
    proc.stdin.end();
    const errText: Buffer[] = [];
    proc.stderr.on('data', (d: Buffer) => { if (errText.length < 64) errText.push(d); });
    const failure = (code: number) => {
      const why = Buffer.concat(errText).toString().trim().split('\n').filter((l) => !/error exit delayed/.test(l)).join('; ');
      if (/no such file or directory/i.test(why)) return new GardenError(`stream-out: ${p} does not exist`, 'path_not_found');
      return new GardenError(`stream-out of ${p} as ${user} failed (tar exit ${code}): ${why}`, 'stream_out_failed');
    };
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    proc.stdout.pipe(out, { end: false });
    const ended = (r: Readable) => new Promise<void>((resolve) => {
      r.once('end', resolve);
      r.once('close', resolve);
    });
    // Settles once tar exited and every byte of its output and errors was read.
    let settled = false;
    const finished = Promise.all([proc.wait(), ended(proc.stdout), ended(proc.stderr)]).then(([c]) => c).finally(() => (settled = true));
    let handedOut = false;
    finished.then((c) => {
      if (!handedOut) return;
      if (c === 0) out.end();
      else out.destroy(failure(c));
    }, (err: Error) => {
      if (handedOut) out.destroy(err);
    });
    // A consumer that stops reading: the tar goes too.
    out.once('close', () => {
      proc.stdout.resume(); // drained, so init-d can deliver the exit
      if (!settled) this.initd.signal(proc.id, 'SIGKILL').catch(() => {});
    });
    // Small trees are read whole before we answer, so their errors reject
    // here; a failure later in a big one destroys the stream with the error.
    await Promise.race([
      finished.catch(() => {}),
      new Promise<void>((resolve) => {
        let seen = 0;
        const onData = (d: Buffer) => {
          seen += d.length;
          if (seen < 256 << 10) return;
          proc.stdout.off('data', onData);
          resolve();
        };
        proc.stdout.on('data', onData);
      }),
    ]);
    if (settled) {
      let c: number;
      try {
        c = await finished;
      } catch (err) {
        out.destroy();
        throw err;
      }
      if (c !== 0) {
        out.destroy();
        throw failure(c);
      }
      out.end();
    }
    handedOut = true;
    return out;
  }

  // ---- grace time, properties ----

  async setGraceTime(ms: number): Promise<void> {
    this.host.assertLive(this.handle);
    if (!(ms >= 0)) throw new InvalidSpecError(`invalid grace time ${ms}`);
    this.state.graceTime = ms;
    await this.save();
    this.host.reaper?.touch(this.handle);
  }

  allProperties(): Properties {
    const p = { ...this.state.properties };
    if (this.rootIsHostRoot()) p[ROOT_IS_HOST_ROOT] = 'true';
    return p;
  }

  async properties(): Promise<Properties> {
    this.use();
    return this.allProperties();
  }

  async property(name: string): Promise<string> {
    this.use();
    const p = this.allProperties();
    if (!Object.hasOwn(p, name)) throw new GardenError(`property does not exist: ${name}`, 'property_not_found');
    return p[name];
  }

  async setProperty(name: string, value: string): Promise<void> {
    this.use();
    this.state.properties[name] = value;
    await this.save();
  }

  async removeProperty(name: string): Promise<void> {
    this.use();
    if (!Object.hasOwn(this.state.properties, name)) throw new GardenError(`property does not exist: ${name}`, 'property_not_found');
    delete this.state.properties[name];
    await this.save();
  }
}
