// DockerBackend rows, each against the plain Engine API doing the same job
// in the same run (interleaved), network none on both sides:
//   docker.create  create until a process can run   vs  API create + start
//   docker.destroy destroy                           vs  API rm -f
//   docker.spawn   run + wait /bin/true              vs  `docker exec C /bin/true` (the CLI)
//   docker.spawn.api                                 vs  API exec create + start + inspect
//   docker.stdout  GiB/s of a process's stdout       vs  `docker exec C dd ...` read by Node
//   docker.stdout.api                                vs  API exec stream read by Node
//                  (all: dd if=/dev/zero bs=1M, 1 MiB per write)
//   docker.memory  server heap per container at 50    vs  the engine's containerd-shim RSS per container
//                  (each with one attached process)

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { DockerBackend } from '../src/backends/docker/index.js';
import { packageRoot } from './root.js';
import { gibps, interleaved, ms, row, type Row } from './stats.js';

const IMAGE = process.env.NODE_GARDEN_TEST_IMAGE ?? 'node-garden/busybox:test';
const STREAM_BYTES = 512 << 20;

class Counter extends Writable {
  n = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.n += chunk.length;
    cb();
  }
}

async function apiCreate(docker: Dockerode): Promise<Dockerode.Container> {
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { 'node-garden.bench': '1' }, HostConfig: { NetworkMode: 'none' } });
  await c.start();
  return c;
}

/** `docker exec` through the CLI, as a user types it; stdout into `sink`, if given. */
function cliExec(container: string, cmd: string[], sink?: Writable): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['exec', container, ...cmd], { stdio: ['ignore', sink ? 'pipe' : 'ignore', 'ignore'] });
    if (sink) child.stdout!.pipe(sink);
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? -1));
  });
}

async function apiExec(c: Dockerode.Container, cmd: string[], sink?: Writable): Promise<number> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    const out = sink ?? new Counter();
    c.modem.demuxStream(stream, out, new Counter());
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  return (await e.inspect()).ExitCode ?? -1;
}

export async function dockerRows(only: (name: string) => boolean): Promise<Row[]> {
  execFileSync('bash', [path.join(packageRoot, 'scripts/make-test-image.sh')], { stdio: 'ignore' });
  const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
  const depot = mkdtempSync(path.join(tmpdir(), 'ngd-bench-'));
  const backend = await DockerBackend.open({ depot, defaultRootfs: IMAGE, network: 'none', reap: false, warn: () => {} });
  const rows: Row[] = [];
  const leftovers: Dockerode.Container[] = [];
  try {
    if (only('docker.create') || only('docker.destroy')) {
      const handles: string[] = [];
      const apiContainers: Dockerode.Container[] = [];
      const viaBackend = async () => {
        const t = process.hrtime.bigint();
        const c = await backend.create({});
        const v = ms(t);
        handles.push(c.handle);
        return v;
      };
      const viaApi = async () => {
        const t = process.hrtime.bigint();
        const c = await apiCreate(docker);
        const v = ms(t);
        apiContainers.push(c);
        leftovers.push(c);
        return v;
      };
      await viaBackend(), await viaApi(); // warm-up
      const [a, b] = await interleaved(10, viaBackend, viaApi);
      if (only('docker.create')) rows.push(row('docker.create', 'ms', a, 'Engine API create + start, same image, network none', b));
      const destroyBackend = async () => {
        const t = process.hrtime.bigint();
        await backend.destroy(handles.pop()!);
        return ms(t);
      };
      const destroyApi = async () => {
        const c = apiContainers.pop()!;
        const t = process.hrtime.bigint();
        await c.remove({ force: true });
        const v = ms(t);
        leftovers.splice(leftovers.indexOf(c), 1);
        return v;
      };
      const n = Math.min(handles.length, apiContainers.length);
      const [d, e] = await interleaved(n, destroyBackend, destroyApi);
      if (only('docker.destroy')) rows.push(row('docker.destroy', 'ms', d, 'Engine API rm -f of a running container, network none', e));
      for (const h of handles) await backend.destroy(h);
    }
    if (only('docker.memory')) {
      // Server memory per container: 50 containers (created 5 at a time), each
      // with one running process attached, as a server holds them; JS heap
      // plus external memory after a full GC, sampled every 10 containers
      // (RSS only ever grows in steps of the allocator's arenas). Baseline: what
      // the engine spends per container outside it, the RSS of its
      // containerd-shim.
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const used = () => {
        gc();
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.external;
      };
      const shimRss = (id: string): number => {
        for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
          try {
            const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
            if (!cmd[0]?.includes('containerd-shim') || cmd[cmd.indexOf('-id') + 1] !== id) continue;
            return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
          } catch {
            // gone
          }
        }
        return NaN;
      };
      const held: Array<{ wait(): Promise<number> }> = [];
      const made: string[] = [];
      const ours: number[] = [];
      const shims: number[] = [];
      try {
        let before = used();
        for (let batch = 0; batch < 5; batch++) {
          const todo = Array.from({ length: 10 }, (_, i) => `bench-mem-${batch * 10 + i}`);
          await Promise.all(Array.from({ length: 5 }, async () => {
            for (let h = todo.shift(); h; h = todo.shift()) {
              const c = await backend.create({ handle: h });
              made.push(h);
              held.push(await c.run({ path: 'sleep', args: ['3600'] }, {}));
              const kib = shimRss(c.state.id ?? '');
              if (Number.isFinite(kib)) shims.push(kib);
            }
          }));
          const after = used();
          ours.push((after - before) / 10 / 1024);
          before = after;
        }
      } finally {
        const todo = [...made];
        await Promise.all(Array.from({ length: 5 }, async () => {
          for (let h = todo.shift(); h; h = todo.shift()) await backend.destroy(h).catch(() => {});
        }));
        await Promise.allSettled(held.map((p) => p.wait()));
      }
      rows.push(row('docker.memory', 'KiB/container', ours, "the engine's containerd-shim RSS per container", shims));
    }
    if (only('docker.spawn') || only('docker.stdout')) {
      const c = await backend.create({ handle: 'bench-spawn' });
      const api = await apiCreate(docker);
      leftovers.push(api);
      const name = c.name;
      if (only('docker.spawn')) {
        const viaBackend = async () => {
          const t = process.hrtime.bigint();
          const p = await c.run({ path: '/bin/true' }, {});
          if ((await p.wait()) !== 0) throw new Error('true failed');
          return ms(t);
        };
        const viaCli = async () => {
          const t = process.hrtime.bigint();
          if ((await cliExec(name, ['/bin/true'])) !== 0) throw new Error('docker exec true failed');
          return ms(t);
        };
        const viaApi = async () => {
          const t = process.hrtime.bigint();
          if ((await apiExec(api, ['/bin/true'])) !== 0) throw new Error('exec true failed');
          return ms(t);
        };
        for (let i = 0; i < 5; i++) await viaBackend(), await viaCli(), await viaApi();
        const [a, b] = await interleaved(60, viaBackend, viaCli, { block: 10, settleMs: 100 });
        rows.push(row('docker.spawn', 'ms', a, `docker exec C /bin/true (the CLI)`, b));
        const [a2, b2] = await interleaved(60, viaBackend, viaApi, { block: 10, settleMs: 100 });
        rows.push(row('docker.spawn.api', 'ms', a2, 'Engine API exec create + start + inspect (keep-alive)', b2));
      }
      if (only('docker.stdout')) {
        // dd writes 1 MiB per write(2); busybox head -c writes 4 KiB at a time,
        // which would measure busybox's syscall rate rather than the stream.
        const cmd = ['dd', 'if=/dev/zero', 'bs=1M', `count=${STREAM_BYTES >> 20}`];
        /** GiB/s of `cmd`'s stdout as `into` delivers it to a counting writer. */
        const streamed = (into: (sink: Writable) => Promise<unknown>) => async () => {
          const sink = new Counter();
          const t = process.hrtime.bigint();
          await into(sink);
          const v = gibps(sink.n, t);
          if (sink.n !== STREAM_BYTES) throw new Error(`short read ${sink.n}`);
          return v;
        };
        const viaBackend = streamed(async (sink) => (await c.run({ path: cmd[0], args: cmd.slice(1) }, { stdout: sink })).wait());
        const viaCli = streamed((sink) => cliExec(name, cmd, sink));
        const viaApi = streamed((sink) => apiExec(api, cmd, sink));
        await viaBackend(), await viaCli(), await viaApi();
        const [a, b] = await interleaved(5, viaBackend, viaCli, { settleMs: 500 });
        rows.push(row('docker.stdout', 'GiB/s', a, 'docker exec C dd ... (the CLI), its stdout read by Node', b));
        const [a2, b2] = await interleaved(5, viaBackend, viaApi, { settleMs: 500 });
        rows.push(row('docker.stdout.api', 'GiB/s', a2, 'Engine API exec stream (demuxed) read by Node', b2));
      }
      await backend.destroy('bench-spawn');
    }
  } finally {
    for (const c of leftovers) await c.remove({ force: true }).catch(() => {});
    for (const c of await backend.containers()) await backend.destroy(c.handle).catch(() => {});
    await backend.close();
    rmSync(depot, { recursive: true, force: true });
  }
  return rows;
}
