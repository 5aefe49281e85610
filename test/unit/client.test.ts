// GardenClient <-> GardenServer round trips for every route, against the
// fake backend, over a unix socket and over TCP on 127.0.0.1.

import test, { type ExecutionContext } from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { GardenClient, GardenServer } from '../../src/index.js';
import {
  ContainerNotFoundError, ExecutableNotFoundError, GardenError, ProcessNotFoundError, ServiceUnavailableError, UnrecoverableError,
} from '../../src/api/errors.js';
import { FakeBackend, type FakeContainer, type FakeProcess } from '../support/fake-backend.js';

type Transport = 'unix' | 'tcp';

async function setup(t: ExecutionContext, transport: Transport, opts: { defaultGraceTime?: number } = {}) {
  const backend = new FakeBackend();
  const server = transport === 'unix'
    ? new GardenServer(backend, { bindSocket: join(mkdtempSync(join(tmpdir(), 'gc-')), 'g.sock'), ...opts })
    : new GardenServer(backend, { bindIp: '127.0.0.1', bindPort: 0, ...opts });
  await server.listen();
  const a = server.address();
  const client = new GardenClient('socket' in a ? `unix://${a.socket}` : `tcp://${a.host}:${a.port}`);
  t.teardown(async () => {
    backend.killAll();
    await server.close();
  });
  return { backend, server, client };
}

/** A Writable collecting everything written to it. */
function collector(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }) as Writable & { text(): string };
  w.text = () => Buffer.concat(chunks).toString();
  return w;
}

for (const transport of ['unix', 'tcp'] as const) {
  test(`${transport}: ping, capacity, create, list, lookup, destroy`, async (t) => {
    const { backend, client } = await setup(t, transport);
    await client.ping();
    t.deepEqual(await client.capacity(), { memoryInBytes: 1111, diskInBytes: 2222, schedulableDiskInBytes: 18446744073709551615n, maxContainers: 42 });
    backend.pingError = new UnrecoverableError('disk gone');
    await t.throwsAsync(client.ping(), { instanceOf: UnrecoverableError, message: 'disk gone' });
    backend.pingError = null;

    const c = await client.create({ handle: 'c1', properties: { team: 'a', x: '<&>' }, graceTime: 0 });
    t.is(c.handle, 'c1');
    await client.create({ handle: 'c2', properties: { team: 'b' } });
    const gen = await client.create({});
    t.regex(gen.handle, /^fake-/);
    await t.throwsAsync(client.create({ handle: 'c1' }), { instanceOf: GardenError, message: 'handle already exists: c1' });
    t.deepEqual((await client.containers()).map((x) => x.handle).sort(), ['c1', 'c2', gen.handle].sort());
    t.deepEqual((await client.containers({ team: 'a' })).map((x) => x.handle), ['c1']);
    t.deepEqual((await client.containers({ team: 'a', x: '<&>' })).map((x) => x.handle), ['c1']);
    t.deepEqual(await client.containers({ team: 'zzz' }), []);
    t.is((await client.lookup('c2')).handle, 'c2');
    await t.throwsAsync(client.lookup('nope'), { instanceOf: ContainerNotFoundError });
    await client.destroy('c2');
    const err = await t.throwsAsync(client.destroy('c2'), { instanceOf: ContainerNotFoundError });
    t.is(err?.handle, 'c2');
  });

  test(`${transport}: create spec arrives intact, with exact 64-bit values and default grace time`, async (t) => {
    const { backend, client } = await setup(t, transport, { defaultGraceTime: 300_000 });
    await client.create({
      handle: 'full', rootfsPath: '/rootfs', image: { uri: 'docker:///busybox', username: 'u', password: 'p' },
      bindMounts: [{ srcPath: '/a', dstPath: '/b', mode: 1, origin: 1 }], network: '10.1.0.0/30',
      env: ['A=B'], privileged: true,
      limits: { memory: { limitInBytes: 18446744073709551615n }, pid: { max: 10 }, cpu: { weight: 3 } },
      netOut: [{ protocol: 3, icmps: { type: 8, code: 0 } }], netIn: [{ hostPort: 0, containerPort: 8080 }],
    });
    const spec = backend.containers_.get('full')!.spec;
    t.is(spec.graceTime, 300_000);
    t.is(spec.limits?.memory?.limitInBytes, 18446744073709551615n);
    t.deepEqual(spec.netOut, [{ protocol: 3, icmps: { type: 8, code: 0 } }]);
    t.deepEqual(spec.bindMounts, [{ srcPath: '/a', dstPath: '/b', mode: 1, origin: 1 }]);
    t.true(spec.privileged);
  });

  test(`${transport}: info, bulk info/metrics, metrics, limits`, async (t) => {
    const { client } = await setup(t, transport);
    const c = await client.create({ handle: 'i', properties: { p: '1' }, limits: { bandwidth: { rateInBytesPerSecond: 5, burstRateInBytesPerSecond: 6 }, disk: { byteHard: 7, scope: 1 } } });
    await c.netIn(0, 8080);
    const info = await c.info();
    t.like(info, { state: 'active', hostIP: '10.254.0.1', properties: { p: '1' }, processIDs: [], events: [] });
    t.deepEqual(info.mappedPorts, [{ hostPort: 61000, containerPort: 8080 }]);
    const bi = await client.bulkInfo(['i', 'ghost']);
    t.deepEqual(bi.i.info, info);
    t.true(bi.ghost.error instanceof ContainerNotFoundError);
    t.is(bi.ghost.info, undefined);
    t.deepEqual(await client.bulkInfo([]), {});
    const m = await c.metrics();
    t.is(m.memoryStat.hierarchicalMemoryLimit, 9223372036854771712n);
    t.is(m.memoryStat.hierarchicalMemswLimit, 18446744073709551615n);
    t.deepEqual(m.networkStat, { rxBytes: 7, txBytes: 8 });
    t.true(m.age >= 0);
    const bm = await client.bulkMetrics(['i', 'ghost']);
    t.is(bm.i.metrics?.cpuEntitlement, 42);
    t.true(bm.ghost.error instanceof ContainerNotFoundError);
    await c.setProperty('nonet', 'y');
    t.is((await c.metrics()).networkStat, null);
    t.deepEqual(await c.currentBandwidthLimits(), { rateInBytesPerSecond: 5, burstRateInBytesPerSecond: 6 });
    t.deepEqual(await c.currentDiskLimits(), { byteHard: 7, scope: 1 });
    t.deepEqual(await c.currentCPULimits(), {});
    t.deepEqual(await c.currentMemoryLimits(), {});
  });

  test(`${transport}: properties, grace time, net, stop`, async (t) => {
    const { backend, client } = await setup(t, transport);
    const c = await client.create({ handle: 'odd handle+/ü', properties: { 'k/ey+ü': 'v' } });
    t.is(c.handle, 'odd handle+/ü');
    t.deepEqual(await c.properties(), { 'k/ey+ü': 'v' });
    t.is(await c.property('k/ey+ü'), 'v');
    await c.setProperty('a b', '<x>');
    t.is(await c.property('a b'), '<x>');
    await c.removeProperty('a b');
    await c.removeProperty('never-there');
    await t.throwsAsync(c.property('a b'), { instanceOf: GardenError, message: /property does not exist/ });
    await c.setGraceTime(1500.5);
    const fc = backend.containers_.get('odd handle+/ü')!;
    t.is(fc.graceTime, 1500.5);
    t.deepEqual(await c.netIn(1234, 0), { hostPort: 1234, containerPort: 1234 });
    await c.netOut({ protocol: 1, networks: [{ start: '1.2.3.4', end: '1.2.3.5' }], ports: [{ start: 80, end: 81 }], log: true });
    await c.bulkNetOut([{ protocol: 2 }, { protocol: 4 }]);
    t.deepEqual(fc.netOutRules, [
      { protocol: 1, networks: [{ start: '1.2.3.4', end: '1.2.3.5' }], ports: [{ start: 80, end: 81 }], log: true },
      { protocol: 2 }, { protocol: 4 },
    ]);
    await c.stop(false);
    t.is((await c.info()).state, 'stopped');
    const gone = client.lookup('nope');
    await t.throwsAsync(gone, { instanceOf: ContainerNotFoundError });
    const ghost = (await client.containers())[0];
    await client.destroy(ghost.handle);
    await t.throwsAsync(ghost.info(), { instanceOf: ContainerNotFoundError });
  });

  test(`${transport}: run with stdin/stdout/stderr and exit code`, async (t) => {
    const { client } = await setup(t, transport);
    const c = await client.create({ handle: 'r' });
    const stdout = collector();
    const stderr = collector();
    const p = await c.run({ id: 'myproc', path: 'sh', args: ['-c', 'echo out; echo err >&2; cat; exit 7'], env: ['X=1'] },
      { stdin: Readable.from([Buffer.from('in-'), Buffer.from([0xc3]), Buffer.from([0xbc, 0x0a])]), stdout, stderr });
    t.is(p.id, 'myproc');
    t.is(await p.wait(), 7);
    t.is(stdout.text(), 'out\nin-ü\n');
    t.is(stderr.text(), 'err\n');
    t.is(await p.wait(), 7, 'wait is repeatable');
  });

  test(`${transport}: run errors are typed; generated ids; no io at all`, async (t) => {
    const { client } = await setup(t, transport);
    const c = await client.create({ handle: 'e' });
    await t.throwsAsync(c.run({ path: '/no/such/binary' }, {}), { instanceOf: ExecutableNotFoundError });
    const ghost = (await client.containers())[0];
    await client.destroy(ghost.handle);
    await t.throwsAsync(ghost.run({ path: 'true' }, {}), { instanceOf: ContainerNotFoundError });
    const c2 = await client.create({ handle: 'e2' });
    const p = await c2.run({ path: 'sh', args: ['-c', 'exit 3'] }, {});
    t.regex(p.id, /^proc-e2-/);
    t.is(await p.wait(), 3);
    await t.throwsAsync(c2.attach('nope', {}), { instanceOf: ProcessNotFoundError, message: 'unknown process: nope' });
  });

  test(`${transport}: attach to a running process, signal, tty, re-attach after disconnect`, async (t) => {
    const { backend, client } = await setup(t, transport);
    const c = await client.create({ handle: 'at' });
    const first = collector();
    const stdin1 = new PassThrough();
    stdin1.write('a\n');
    const p1 = await c.run({ id: 'loop', path: 'sh', args: ['-c', 'while read l; do echo "got $l"; done; sleep 30'], tty: { windowSize: { columns: 80, rows: 24 } } },
      { stdin: stdin1, stdout: first });
    const out = collector();
    const stdin = new PassThrough();
    const p2 = await c.attach('loop', { stdout: out, stdin });
    stdin.write('b\n');
    for (let i = 0; i < 100 && !/got b/.test(out.text()); i++) await new Promise((r) => setTimeout(r, 50));
    t.regex(out.text(), /got b/);
    t.regex(first.text(), /got a\ngot b/, 'output fans out to every attachment');
    await p2.setTTY({ windowSize: { columns: 100, rows: 50 } });
    await p2.signal('kill');
    t.is(await p2.wait(), 137);
    t.is(await p1.wait(), 137);
    const fp = backend.containers_.get('at')!.processes.get('loop') as FakeProcess;
    t.deepEqual(fp.ttySizes, [{ windowSize: { columns: 100, rows: 50 } }]);
    t.deepEqual(fp.signals, ['kill']);
    // Attach after exit: exit status at once (the fake keeps it).
    const p3 = await c.attach('loop', { stdout: collector() });
    t.is(await p3.wait(), 137);
  });

  test(`${transport}: stream in/out, big and streaming, errors typed`, async (t) => {
    const { backend, client } = await setup(t, transport);
    const c = await client.create({ handle: 's' });
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await c.streamIn({ path: '/dst dir', user: 'root', tarStream: Readable.from([big.subarray(0, 1000), big.subarray(1000)]) });
    t.true((backend.containers_.get('s') as FakeContainer).files.get('/dst dir')!.equals(big));
    const rs = await c.streamOut({ path: '/dst dir' });
    const chunks: Buffer[] = [];
    for await (const ch of rs) chunks.push(ch as Buffer);
    t.true(Buffer.concat(chunks).equals(big));
    await t.throwsAsync(c.streamOut({ path: '/missing' }), { instanceOf: GardenError, message: /no such file/ });
    await t.throwsAsync(c.streamIn({ path: '/fail', tarStream: Readable.from([Buffer.alloc(100000)]) }), { message: 'stream-in failed' });
    (backend.containers_.get('s') as FakeContainer).files.set('/x/broken', Buffer.alloc(10000, 1));
    const broken = await c.streamOut({ path: '/x/broken' });
    await t.throwsAsync(async () => { for await (const _ of broken) { /* drain */ } });
  });

  test(`${transport}: bulk output: exact bytes into a slow sink that keeps every chunk, backpressure reaches the process`, async (t) => {
    const { backend, client } = await setup(t, transport);
    const c = await client.create({ handle: 'bulk' });
    // Distinct bytes everywhere (no zeros), so reused or overwritten read memory would show.
    // 24 MB: more than every buffer on the way (kernel socket buffers included).
    const script = 'seq 1000000 3999999; seq 1 50 >&2';
    const chunks: Buffer[] = [];
    let gate: (() => void) | null = null;
    let held = true;
    const stdout = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        if (held) gate = cb; // nothing is taken until the gate opens
        else if (chunks.length % 7 === 0) setTimeout(cb, 1); // then a slow reader
        else cb();
      },
    });
    const stderr = collector();
    const p = await c.run({ id: 'seq', path: 'sh', args: ['-c', script] }, { stdout, stderr });
    const fp = backend.containers_.get('bulk')!.processes.get('seq') as FakeProcess;
    await new Promise((r) => setTimeout(r, 700));
    t.is(fp.exitCode, null, 'the process is held back by the sink that takes nothing');
    held = false;
    (gate as (() => void) | null)?.();
    t.is(await p.wait(), 0);
    const got = Buffer.concat(chunks).toString('latin1');
    t.is(got.length, 3000000 * 8);
    // Compared in slices, yielding in between: other tests share this event loop.
    let mismatch = -1;
    for (let from = 0; from < 3000000 && mismatch < 0; from += 100000) {
      const want = Array.from({ length: 100000 }, (_, k) => `${1000000 + from + k}\n`).join('');
      if (got.slice(from * 8, (from + 100000) * 8) !== want) mismatch = from;
      await new Promise((r) => setImmediate(r));
    }
    t.is(mismatch, -1, 'stdout byte for byte');
    t.is(stderr.text(), Array.from({ length: 50 }, (_, k) => `${k + 1}\n`).join(''));
  });

  test(`${transport}: many concurrent processes and streams`, async (t) => {
    const { client } = await setup(t, transport);
    const c = await client.create({ handle: 'm' });
    const runs = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const out = collector();
      const p = await c.run({ path: 'sh', args: ['-c', `head -c ${100000 + i} /dev/zero; exit ${i}`] }, { stdout: out });
      return { i, out, p };
    }));
    for (const { i, out, p } of runs) {
      t.is(await p.wait(), i);
      t.is(out.text().length, 100000 + i);
    }
  });
}

test('service unavailable errors keep their type', async (t) => {
  const { backend, client } = await setup(t, 'tcp');
  backend.pingError = new ServiceUnavailableError('no capacity <now>');
  await t.throwsAsync(client.ping(), { instanceOf: ServiceUnavailableError, message: 'no capacity <now>' });
});

test('server shutdown: control connection drops, wait rejects, process keeps running', async (t) => {
  const backend = new FakeBackend();
  const server = new GardenServer(backend, { bindIp: '127.0.0.1', bindPort: 0 });
  await server.listen();
  t.teardown(() => backend.killAll());
  const a = server.address() as { host: string; port: number };
  const client = new GardenClient(`tcp://${a.host}:${a.port}`);
  const c = await client.create({ handle: 'sd' });
  const p = await c.run({ id: 'slp', path: 'sleep', args: ['30'] }, { stdout: collector() });
  await server.close();
  await t.throwsAsync(p.wait(), { message: /decode failed|stream/ });
  t.is(backend.containers_.get('sd')!.processes.get('slp')!.exitCode, null);
});
