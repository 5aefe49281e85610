// init-d rows: spawn latency and stdout throughput against Node's own child_process.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { closeFd, socketpair } from '../src/initd/native.js';
import type { Readable } from 'node:stream';
import { startInitd } from './initd-env.js';
import { gibps, interleaved, ms, row, type Row } from './stats.js';

const STREAM_BYTES = 1 << 30;
// dd writes 1 MiB per write(2), so the rows measure the stream, not the writer's syscall rate.
const WRITER = ['dd', 'if=/dev/zero', 'bs=1M', `count=${STREAM_BYTES >> 20}`, 'status=none'];

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

function hostSpawnTrue(): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/true', { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(ms(t)));
  });
}

async function hostStdout(): Promise<number> {
  const t = process.hrtime.bigint();
  const c = spawn(WRITER[0], WRITER.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  const n = await drain(c.stdout);
  if (n !== STREAM_BYTES) throw new Error(`short read ${n}`);
  return gibps(n, t);
}

export async function initdRows(only: (name: string) => boolean): Promise<Row[]> {
  const env = await startInitd();
  const rows: Row[] = [];
  try {
    if (only('initd.spawn')) {
      const viaInitd = async () => {
        const t = process.hrtime.bigint();
        const p = await env.client.spawn({ path: '/bin/true' });
        await p.wait();
        return ms(t);
      };
      for (let i = 0; i < 20; i++) await viaInitd(), await hostSpawnTrue(); // warm-up
      const [a, b] = await interleaved(300, viaInitd, hostSpawnTrue);
      rows.push(row('initd.spawn', 'ms', a, "node child_process.spawn('/bin/true') on the host", b));
    }
    if (only('initd.stdout.relayed')) {
      const relayed = async () => {
        const t = process.hrtime.bigint();
        const p = await env.client.spawn({ path: WRITER[0], args: WRITER.slice(1) });
        p.stdin.end();
        const n = await drain(p.stdout);
        await p.wait();
        if (n !== STREAM_BYTES) throw new Error(`short read ${n}`);
        return gibps(n, t);
      };
      await relayed();
      const [a, b] = await interleaved(7, relayed, hostStdout);
      rows.push(row('initd.stdout.relayed', 'GiB/s', a, "node reading a host child's stdout", b));
    }
    if (only('initd.stdout.direct')) {
      const direct = async () => {
        const t = process.hrtime.bigint();
        const [mine, theirs] = socketpair();
        const devnull = openSync('/dev/null', 'r+');
        const p = await env.client.spawnDirect({ path: WRITER[0], args: WRITER.slice(1) }, [devnull, theirs, devnull]);
        closeFd(theirs);
        closeSync(devnull);
        const n = await drain(new net.Socket({ fd: mine, readable: true, writable: false }));
        await p.wait();
        if (n !== STREAM_BYTES) throw new Error(`short read ${n}`);
        return gibps(n, t);
      };
      await direct();
      const [a, b] = await interleaved(7, direct, hostStdout);
      rows.push(row('initd.stdout.direct', 'GiB/s', a, "node reading a host child's stdout", b));
    }
  } finally {
    await env.stop();
  }
  return rows;
}
