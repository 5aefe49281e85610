// Wire rows: the Garden HTTP server and client against the same backend embedded.
// wire.stdout runs its client in a process of its own (bench/wire-client.ts).

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Garden } from '../src/api/garden.js';
import { DockerBackend } from '../src/backends/docker/index.js';
import { GardenClient } from '../src/client/index.js';
import { GardenServer } from '../src/server/index.js';
import { gibps, interleaved, ms, row, type Row } from './stats.js';

const IMAGE = 'docker:///node-garden/busybox#test';
const STREAM_BYTES = 512 << 20;
const run$ = promisify(execFile);

function counter(): { sink: Writable; bytes: () => number } {
  let n = 0;
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { n += chunk.length; cb(); } });
  return { sink, bytes: () => n };
}

export async function wireRows(only: (name: string) => boolean): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'wire-bench-'));
  const backend = await DockerBackend.open({ depot: path.join(dir, 'depot'), defaultRootfs: IMAGE, network: 'none', reap: false, warn: () => {} });
  const unix = new GardenServer(backend, { bindSocket: path.join(dir, 'garden.sock') });
  const tcp = new GardenServer(backend, { bindIp: '127.0.0.1', bindPort: 0 });
  await unix.listen();
  await tcp.listen();
  const tcpAddress = tcp.address() as { host: string; port: number };
  const overUnix = new GardenClient(`unix://${path.join(dir, 'garden.sock')}`);
  const handle = `wire-bench-${process.pid}`;
  const rows: Row[] = [];
  try {
    await backend.create({ handle, image: { uri: IMAGE } });
    const containers = new Map([[overUnix as Garden, await overUnix.lookup(handle)], [backend, await backend.lookup(handle)]]);
    const runTrue = (g: Garden) => async () => {
      const c = containers.get(g)!;
      const t = process.hrtime.bigint();
      const p = await c.run({ path: '/bin/true' }, {});
      await p.wait();
      return ms(t);
    };
    if (only('wire.spawn')) {
      for (let i = 0; i < 10; i++) await runTrue(overUnix)(), await runTrue(backend)();
      const [a, b] = await interleaved(150, runTrue(overUnix), runTrue(backend));
      rows.push(row('wire.spawn', 'ms', a, 'the same run+wait embedded (DockerBackend)', b));
    }
    if (only('wire.stdout')) {
      // The client runs in a process of its own, as a Garden client does.
      const client = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wire-client.js');
      const remote = async () => {
        const { stdout } = await run$(process.execPath, [client, `tcp://${tcpAddress.host}:${tcpAddress.port}`, handle, String(STREAM_BYTES)]);
        return (JSON.parse(stdout) as { gibps: number }).gibps;
      };
      const stream = (g: Garden) => async () => {
        const t = process.hrtime.bigint();
        const c = await g.lookup(handle);
        const out = counter();
        const p = await c.run({ path: 'dd', args: ['if=/dev/zero', 'bs=1M', `count=${STREAM_BYTES >> 20}`] }, { stdout: out.sink });
        await p.wait();
        if (out.bytes() !== STREAM_BYTES) throw new Error(`short read ${out.bytes()}`);
        return gibps(out.bytes(), t);
      };
      await remote();
      const [a, b] = await interleaved(5, remote, stream(backend));
      rows.push(row('wire.stdout', 'GiB/s', a, 'the same stdout embedded (DockerBackend)', b));
    }
  } finally {
    await backend.destroy(handle).catch(() => {});
    await unix.close();
    await tcp.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
