// DockerBackend against the real engine: lifecycle, processes, state and
// restore, grace time, files, limits, metrics, network.

import test from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import tar from 'tar-stream';
import {
  AlreadyExistsError, ContainerNotFoundError, GardenError, InvalidSpecError, ProcessNotFoundError, ServiceUnavailableError,
} from '../../src/api/errors.js';
import { Protocol } from '../../src/api/types.js';
import type { DockerBackend, DockerContainer } from '../../src/backends/docker/index.js';
import { LABEL_DEPOT, LABEL_HANDLE, containerName } from '../../src/backends/docker/names.js';
import { cleanupNetwork, outChain, setupNetOut } from '../../src/backends/docker/network.js';
import { collect } from '../support/initd.js';
import { Sink, TEST_IMAGE, cleanupDepot, ensureTestImage, makeDepot, openBackend, root } from '../support/docker.js';

const run$ = promisify(execFile);
const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
let depot: string;
let backend: DockerBackend;

test.before(async () => {
  ensureTestImage();
  depot = makeDepot();
  backend = await openBackend(depot);
});

test.after.always(async () => {
  await backend?.close();
  if (depot) await cleanupDepot(depot);
});

async function exec(c: DockerContainer, path_: string, args: string[] = [], extra = {}) {
  const out = new Sink();
  const err = new Sink();
  const p = await c.run({ path: path_, args, ...extra }, { stdout: out, stderr: err });
  const code = await p.wait();
  return { code, out: out.text(), err: err.text(), id: p.id };
}

function tarOf(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number }>): Readable {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link') pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: e.mode ?? 0o755 });
    else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.body ?? '');
  }
  pack.finalize();
  return pack;
}

async function untar(stream: Readable): Promise<Record<string, { body: string; uid?: number; type?: string | null }>> {
  const ex = tar.extract();
  stream.pipe(ex);
  const out: Record<string, { body: string; uid?: number; type?: string | null }> = {};
  for await (const entry of ex) out[entry.header.name] = { body: (await collect(entry)).toString(), uid: entry.header.uid, type: entry.header.type };
  return out;
}

// ---- lifecycle ----

test('create: an ordinary Docker container, labelled, with init-d as PID 1; docker exec works', async (t) => {
  const c = await backend.create({ handle: 'life/one two', properties: { team: 'a', kind: 'x' } });
  const listed = await docker.listContainers({ filters: { label: [`${LABEL_HANDLE}=life/one two`] } });
  t.is(listed.length, 1);
  t.is(listed[0].Labels[LABEL_DEPOT], depot);
  t.regex(listed[0].Names[0], /^\/garden-life-one-two-[0-9a-f]{12}$/);
  const ps = execFileSync('docker', ['ps', '--filter', `label=${LABEL_HANDLE}=life/one two`, '--format', '{{.Names}}']).toString().trim();
  t.is(`/${ps}`, listed[0].Names[0]);
  const viaExec = execFileSync('docker', ['exec', ps, 'cat', '/proc/1/cmdline']).toString().split('\0');
  t.deepEqual(viaExec.slice(0, 3), ['/.garden/init-d', '--socket', '/.garden/run/initd.sock']);
  // The socket is in the depot, reachable from the host only.
  t.true(existsSync(path.join(depot, 'containers', ps, 'run', 'initd.sock')));
  const fromInside = await exec(c, 'sh', ['-c', 'echo | nc local:/.garden/run/initd.sock 2>&1; ls -ld /.garden/run']);
  t.notRegex(fromInside.out, /"ok"/);
  t.is(c.handle, 'life/one two');
  t.is((await backend.lookup('life/one two')).handle, 'life/one two');
  const info = await c.info();
  t.is(info.state, 'active');
  t.regex(info.containerIP, /^\d+\.\d+\.\d+\.\d+$/);
  t.is(info.containerPath, path.join(depot, 'containers', ps));
  t.is(info.properties.team, 'a');
  await backend.destroy('life/one two');
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_HANDLE}=life/one two`] } }), []);
  t.false(existsSync(path.join(depot, 'containers', ps)));
  await t.throwsAsync(backend.lookup('life/one two'), { instanceOf: ContainerNotFoundError });
  await t.throwsAsync(c.info(), { instanceOf: ContainerNotFoundError });
});

test('handles: generated when empty, duplicates refused, unknown ones not found', async (t) => {
  const c = await backend.create({});
  t.regex(c.handle, /^[0-9a-f]{16}$/);
  await backend.create({ handle: 'dup' });
  const err = await t.throwsAsync(Promise.all([backend.create({ handle: 'dup' })]), { instanceOf: AlreadyExistsError });
  t.is(err?.message, 'handle already exists: dup');
  // Two concurrent creates of one new handle: exactly one wins.
  const both = await Promise.allSettled([backend.create({ handle: 'race' }), backend.create({ handle: 'race' })]);
  t.is(both.filter((r) => r.status === 'fulfilled').length, 1);
  t.true(both.some((r) => r.status === 'rejected' && r.reason instanceof AlreadyExistsError));
  await t.throwsAsync(backend.destroy('no-such-handle'), { instanceOf: ContainerNotFoundError });
  const bulk = await backend.bulkInfo(['dup', 'no-such-handle']);
  t.is(bulk.dup.info?.state, 'active');
  t.true(bulk['no-such-handle'].error instanceof ContainerNotFoundError);
  // Concurrent destroys of one handle: both succeed, the handle is gone.
  const destroys = await Promise.allSettled([backend.destroy('dup'), backend.destroy('dup'), backend.destroy('race')]);
  t.true(destroys.every((r) => r.status === 'fulfilled'));
  await t.throwsAsync(backend.destroy('dup'), { instanceOf: ContainerNotFoundError });
  await backend.destroy(c.handle);
});

test('containers(filter): properties ANDed; properties set, read and removed', async (t) => {
  const a = await backend.create({ handle: 'f-a', properties: { pool: 'p1', role: 'web' } });
  await backend.create({ handle: 'f-b', properties: { pool: 'p1', role: 'db' } });
  const handles = async (f: Record<string, string>) => (await backend.containers(f)).map((c) => c.handle).sort();
  t.deepEqual(await handles({ pool: 'p1' }), ['f-a', 'f-b']);
  t.deepEqual(await handles({ pool: 'p1', role: 'web' }), ['f-a']);
  t.deepEqual(await handles({ pool: 'p2' }), []);
  await a.setProperty('role', 'cache');
  t.deepEqual(await handles({ role: 'cache' }), ['f-a']);
  t.is(await a.property('role'), 'cache');
  await a.removeProperty('role');
  await t.throwsAsync(a.property('role'), { instanceOf: GardenError, message: /property does not exist: role/ });
  t.is((await a.properties()).pool, 'p1');
  // Stored in the depot.
  const state = JSON.parse(readFileSync(path.join(depot, 'containers', (a as unknown as { name: string }).name, 'state.json'), 'utf8'));
  t.deepEqual(state.properties, { pool: 'p1' });
  t.is(statSync(path.join(depot, 'containers', (a as unknown as { name: string }).name, 'state.json')).mode & 0o777, 0o600);
  await backend.destroy('f-a');
  await backend.destroy('f-b');
});

// ---- processes ----

test('run: env from the container then the process, users, dirs, exit codes', async (t) => {
  const c = await backend.create({ handle: 'proc', env: ['A=container', 'B=container'] });
  const r = await exec(c, 'sh', ['-c', 'echo $A $B; id -un; pwd; echo oops >&2; exit 7'], { env: ['B=process'] });
  t.is(r.code, 7);
  t.is(r.out, 'container process\nroot\n/root\n');
  t.is(r.err, 'oops\n');
  const alice = await exec(c, 'sh', ['-c', 'id -un; pwd'], { user: 'alice' });
  t.is(alice.out, 'alice\n/home/alice\n');
  t.is((await exec(c, 'pwd', [], { dir: '/tmp', user: 'bob' })).out, '/tmp\n');
  t.is((await exec(c, 'sh', ['-c', 'kill -9 $$'])).code, 137);
  t.is((await exec(c, 'sh', ['-c', 'ulimit -n'], { limits: { nofile: 123 } })).out, '123\n');
  await t.throwsAsync(c.run({ path: 'no-such-binary' }, {}), { name: 'ExecutableNotFoundError' });
  await backend.destroy('proc');
});

test('run: stdin, tty and resize, signals, caller-chosen ids, attach with offsets', async (t) => {
  const c = await backend.create({ handle: 'io' });
  const stdin = new PassThrough();
  const out = new Sink();
  const p = await c.run({ path: 'tr', args: ['a-z', 'A-Z'] }, { stdin, stdout: out });
  stdin.end('hello docker\n');
  t.is(await p.wait(), 0);
  t.is(out.text(), 'HELLO DOCKER\n');

  const ttyOut = new Sink();
  const tty = await c.run({ path: 'sh', args: ['-c', 'stty size; read x; stty size'], tty: { windowSize: { columns: 100, rows: 30 } } }, { stdin: new PassThrough(), stdout: ttyOut });
  for (let i = 0; i < 200 && !ttyOut.text().includes('30 100'); i++) await sleep(10);
  await tty.setTTY({ windowSize: { columns: 90, rows: 20 } });
  const s2 = new PassThrough();
  await c.attach(tty.id, { stdin: s2 });
  s2.write('go\n');
  t.is(await tty.wait(), 0);
  t.regex(ttyOut.text(), /30 100\r\n[\s\S]*20 90\r\n/);

  const sleeper = await c.run({ id: 'sleeper', path: 'sleep', args: ['100'] }, {});
  t.is(sleeper.id, 'sleeper');
  t.deepEqual((await c.info()).processIDs, ['sleeper']);
  await sleeper.signal('terminate');
  t.is(await sleeper.wait(), 143);
  await t.throwsAsync(c.run({ id: 'sleeper', path: 'true' }, {}), { instanceOf: GardenError });
  const k = await c.run({ path: 'sleep', args: ['100'] }, {});
  await k.signal('kill');
  t.is(await k.wait(), 137);

  await t.throwsAsync(c.attach('nobody', {}), { instanceOf: ProcessNotFoundError });

  const first = new Sink();
  const seq = await c.run({ id: 'seq', path: 'sh', args: ['-c', 'seq 1 5; read x; seq 6 8'] }, { stdin: new PassThrough(), stdout: first });
  for (let i = 0; i < 200 && !first.text().endsWith('5\n'); i++) await sleep(10);
  const offsets = (seq as unknown as { offsets(): { stdoutOffset: number } }).offsets();
  t.is(offsets.stdoutOffset, 10);
  (seq as unknown as { detach(): void }).detach();
  const again = new Sink();
  const stdin2 = new PassThrough();
  const re = await c.attach('seq', { stdout: again, stdin: stdin2 }, { stdoutOffset: 4, stderrOffset: 0 });
  stdin2.end('\n');
  t.is(await re.wait(), 0);
  t.is(again.text(), '3\n4\n5\n6\n7\n8\n');
  // An exited process's code is kept for a later attach.
  t.is(await (await c.attach('seq', {})).wait(), 0);
  await backend.destroy('io');
});

test('wait resolves only after all output is in the writers (1 MiB, slow sink)', async (t) => {
  const c = await backend.create({ handle: 'slow' });
  let n = 0;
  const sink = new (class extends Sink {
    override _write(chunk: Buffer, enc: BufferEncoding, cb: () => void) {
      n += chunk.length;
      setTimeout(() => super._write(chunk, enc, cb), 1);
    }
  })({ highWaterMark: 16 << 10 });
  const p = await c.run({ path: 'head', args: ['-c', String(1 << 20), '/dev/zero'] }, { stdout: sink });
  t.is(await p.wait(), 0);
  t.is(n, 1 << 20);
  t.is(Buffer.concat(sink.chunks).length, 1 << 20);
  t.false(sink.writableEnded);
  await backend.destroy('slow');
});

test('stop: processes are stopped, no new ones run, files stay reachable', async (t) => {
  const c = await backend.create({ handle: 'stopme' });
  const p = await c.run({ path: 'sleep', args: ['100'] }, {});
  await c.stop(false);
  t.is(await p.wait(), 143);
  t.is((await c.info()).state, 'stopped');
  await t.throwsAsync(c.run({ path: 'true' }, {}), { instanceOf: GardenError, message: /stopped/ });
  const files = await untar(await c.streamOut({ path: '/etc/hostname' }));
  t.is(files.hostname.body.trim(), 'stopme');
  await backend.destroy('stopme');
});

// ---- grace time ----

test('grace time: an idle container is destroyed; use restarts the countdown; 0 never', async (t) => {
  const keep = await backend.create({ handle: 'graceless', graceTime: 0 });
  const c = await backend.create({ handle: 'graceful', graceTime: 3000 });
  t.is(await backend.graceTime('graceful'), 3000);
  for (let i = 0; i < 8; i++) {
    await sleep(500);
    await c.properties(); // counts as use
  }
  t.truthy(await backend.lookup('graceful'));
  // A running attachment holds the countdown.
  const p = await c.run({ path: 'sleep', args: ['4'] }, {});
  await sleep(3500);
  t.truthy(await backend.lookup('graceful'));
  await p.wait();
  await c.setGraceTime(300);
  t.is(await backend.graceTime('graceful'), 300);
  for (let i = 0; i < 400 && (await backend.containers()).some((x) => x.handle === 'graceful'); i++) await sleep(50);
  await t.throwsAsync(backend.lookup('graceful'), { instanceOf: ContainerNotFoundError });
  const left = () => docker.listContainers({ all: true, filters: { label: [`${LABEL_HANDLE}=graceful`] } });
  for (let i = 0; i < 200 && (await left()).length; i++) await sleep(100);
  t.deepEqual(await left(), []);
  t.truthy(await backend.lookup('graceless'));
  await backend.destroy(keep.handle);
});

// ---- restart ----

test('SIGKILL of the backend loses nothing: a new backend attaches and gets the rest of the output and the exit code', async (t) => {
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const script = `
    import { openBackend } from './test/support/docker.ts';
    import { Writable } from 'node:stream';
    const b = await openBackend(process.argv[1], { reap: true });
    const c = await b.create({ handle: 'survivor', graceTime: 600000, properties: { who: 'me' } });
    await c.netIn(0, 8080);
    let said = false;
    const out = new Writable({ write(chunk, _e, cb) { if (!said) { said = true; process.stdout.write('started ' + chunk.toString().split('\\n')[0] + '\\n'); } cb(); } });
    await c.run({ id: 'long', path: 'sh', args: ['-c', 'echo first; read x; echo second; echo third >&2; exit 9'] }, { stdout: out, stdin: process.stdin });
  `;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script, d], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (b) => resolve(b.toString())));
  t.is(line, 'started first\n');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const b2 = await openBackend(d);
  t.teardown(() => b2.close());
  const c = await b2.lookup('survivor');
  t.is(await c.property('who'), 'me');
  t.is(await b2.graceTime('survivor'), 600000);
  t.is((await c.info()).mappedPorts.length, 1);
  t.deepEqual((await c.info()).processIDs, ['long']);
  const out = new Sink();
  const err = new Sink();
  const stdin = new PassThrough();
  const p = await c.attach('long', { stdout: out, stderr: err, stdin });
  stdin.end('go\n');
  t.is(await p.wait(), 9);
  t.is(out.text(), 'second\n');
  t.is(err.text(), 'third\n');
  await b2.destroy('survivor');
});

test('open() rolls back a create that never finished, and forgets containers the engine lost', async (t) => {
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const b = await openBackend(d, { network: 'none' });
  const kept = await b.create({ handle: 'kept' });
  const half = await b.create({ handle: 'half' });
  const lost = await b.create({ handle: 'lost' });
  await b.close();
  // Simulate a crash in the middle of create: the state still says 'creating'.
  const halfState = path.join(d, 'containers', (half as unknown as { name: string }).name, 'state.json');
  const s = JSON.parse(readFileSync(halfState, 'utf8'));
  s.status = 'creating';
  (await import('node:fs')).writeFileSync(halfState, JSON.stringify(s));
  await docker.getContainer((lost as unknown as { name: string }).name).remove({ force: true });
  const b2 = await openBackend(d, { network: 'none' });
  t.deepEqual((await b2.containers()).map((c) => c.handle), ['kept']);
  t.deepEqual((await docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${d}`] } })).map((c) => c.Labels[LABEL_HANDLE]), ['kept']);
  t.false(existsSync(path.dirname(halfState)));
  t.is((await exec(await b2.lookup('kept'), 'echo', ['hi'])).out, 'hi\n');
  await b2.destroy(kept.handle);
  await b2.close();
});

test('engine unreachable: ServiceUnavailableError, and recovery when it is back', async (t) => {
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const proxyPath = path.join(d, 'engine.sock');
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const up = () => new Promise<void>((resolve) => {
    server = net.createServer((s) => {
      const u = net.connect('/var/run/docker.sock');
      sockets.add(s).add(u);
      s.pipe(u).pipe(s);
      s.on('error', () => u.destroy());
      u.on('error', () => s.destroy());
    });
    server.listen(proxyPath, resolve);
  });
  const down = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    server!.close(() => resolve());
  });
  await up();
  const b = await openBackend(d, { docker: { socketPath: proxyPath }, network: 'none' });
  const c = await b.create({ handle: 'eng' });
  await down();
  await t.throwsAsync(b.ping(), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(b.create({ handle: 'eng2' }), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(c.info(), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(b.destroy('eng'), { instanceOf: ServiceUnavailableError });
  // Processes do not need the engine at all.
  t.is((await exec(c, 'echo', ['still here'])).out, 'still here\n');
  // A backend opened while the engine is down serves the depot, and catches up later.
  const b2 = await openBackend(d, { docker: { socketPath: proxyPath }, network: 'none' });
  t.is((await b2.lookup('eng')).handle, 'eng');
  await b2.close();
  await up();
  await b.ping();
  t.is((await c.info()).state, 'active');
  await b.destroy('eng');
  await b.close();
  await down();
});

// ---- files ----

test('streamIn / streamOut: round trip, owned by the requested user', async (t) => {
  const c = await backend.create({ handle: 'files' });
  await c.streamIn({ path: '/home/alice/in', user: 'alice', tarStream: tarOf([{ name: 'dir', type: 'directory' }, { name: 'dir/a.txt', body: 'A' }, { name: 'b.txt', body: 'B' }, { name: 'dir/l', type: 'symlink', linkname: '../b.txt' }]) });
  const r = await exec(c, 'sh', ['-c', 'cd /home/alice/in && stat -c "%U %n" . dir dir/a.txt b.txt && cat dir/l'], {});
  t.is(r.out, 'alice .\nalice dir\nalice dir/a.txt\nalice b.txt\nB');
  await c.streamIn({ path: '/tmp/root-owned', tarStream: tarOf([{ name: 'x', body: 'x' }]) });
  t.is((await exec(c, 'stat', ['-c', '%U', '/tmp/root-owned/x'])).out, 'root\n');
  const files = await untar(await c.streamOut({ path: '/home/alice/in/dir' }));
  t.is(files['dir/a.txt'].body, 'A');
  t.is(files['dir/a.txt'].uid, 1000);
  await t.throwsAsync(c.streamOut({ path: '/no/such/path' }), { instanceOf: GardenError, message: /does not exist/ });
  await backend.destroy('files');
});

test('streamIn refuses escapes: ../, absolute and escaping symlinks, hard links out, entries below its own symlinks', async (t) => {
  const c = await backend.create({ handle: 'escape' });
  const bad = [
    [{ name: '../evil', body: 'x' }],
    [{ name: 'a/../../evil', body: 'x' }],
    [{ name: '/etc/evil', body: 'x' }],
    [{ name: 'abs', type: 'symlink' as const, linkname: '/etc' }],
    [{ name: 'up', type: 'symlink' as const, linkname: '../../etc' }],
    [{ name: 'hard', type: 'link' as const, linkname: '../etc/passwd' }],
    [{ name: 'hard', type: 'link' as const, linkname: 'etc/passwd' }],
    [{ name: 'self', type: 'symlink' as const, linkname: '.' }, { name: 'self/x', body: 'x' }],
  ];
  for (const entries of bad) {
    await t.throwsAsync(c.streamIn({ path: '/tmp/dest', tarStream: tarOf(entries) }), { instanceOf: InvalidSpecError, message: /refusing tar stream/ }, JSON.stringify(entries));
  }
  // Nothing was extracted, not even entries before the bad one.
  await t.throwsAsync(c.streamIn({ path: '/tmp/dest', tarStream: tarOf([{ name: 'good', body: 'g' }, { name: '../bad', body: 'b' }]) }), { instanceOf: InvalidSpecError });
  t.is((await exec(c, 'sh', ['-c', 'ls /tmp/dest 2>/dev/null; ls /tmp/evil /evil 2>&1 | wc -l'])).out.trim(), '2');
  await backend.destroy('escape');
});

// ---- limits, metrics, capacity ----

test('limits at create and live: memory, cpu shares, pids; disk only when enforced', async (t) => {
  const c = await backend.create({ handle: 'limits', limits: { memory: { limitInBytes: 64 << 20 }, cpu: { weight: 512 }, pid: { max: 50 }, disk: { byteHard: 100 << 20 } } });
  t.deepEqual(await c.currentMemoryLimits(), { limitInBytes: 64 << 20 });
  t.deepEqual(await c.currentCPULimits(), { weight: 512, limitInShares: 512 });
  const i = await docker.getContainer((c as unknown as { name: string }).name).inspect();
  t.is(i.HostConfig.PidsLimit, 50);
  const m = await c.metrics();
  t.is(m.pidStat.max, 50);
  t.is(m.memoryStat.hierarchicalMemoryLimit, 64 << 20);
  // overlay2 on extfs has no quotas here: reported as not enforced, never pretended.
  t.deepEqual(await c.currentDiskLimits(), {});
  await c.updateLimits({ memory: { limitInBytes: 128 << 20 }, cpu: { weight: 256 }, pid: { max: 80 } });
  t.deepEqual(await c.currentMemoryLimits(), { limitInBytes: 128 << 20 });
  t.deepEqual(await c.currentCPULimits(), { weight: 256, limitInShares: 256 });
  t.is((await c.metrics()).pidStat.max, 80);
  // pids are enforced at fork time: the run succeeds, its forks beyond the limit fail.
  const forks = await c.run({ path: 'sh', args: ['-c', 'for i in $(seq 1 120); do sleep 15 & done; sleep 1; kill $(jobs -p) 2>/dev/null; wait'] }, {});
  // A loaded machine forks slowly: watch the count climb, then check where it stops.
  let during = 0;
  for (let i = 0; i < 40 && during < 80; i++) {
    await sleep(250);
    during = Math.max(during, Number((await c.metrics()).pidStat.current));
  }
  t.true(during > 40 && during <= 80, String(during));
  await forks.wait();
  await backend.destroy('limits');
});

test('metrics from cgroup v1 files; capacity', async (t) => {
  const c = await backend.create({ handle: 'metrics' });
  await exec(c, 'sh', ['-c', 'dd if=/dev/zero of=/tmp/blob bs=1M count=4 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done']);
  const m = await c.metrics();
  t.true(Number(m.cpuStat.usage) > 0);
  t.true(Number(m.memoryStat.totalRss) + Number(m.memoryStat.totalCache) > 0);
  t.true(Number(m.memoryStat.totalRss) > 0, 'init-d and the shell are resident');
  // Usage the way the limit counts it: the 4 MiB just written may all be reclaimable cache.
  t.true(Number(m.memoryStat.totalUsageTowardLimit) >= 0);
  t.true(Number(m.diskStat.exclusiveBytesUsed) >= 4 << 20);
  t.true(Number(m.pidStat.current) >= 1);
  t.truthy(m.networkStat);
  t.true(m.age > 0 && m.age < 120_000);
  const bulk = await backend.bulkMetrics(['metrics', 'nope']);
  t.truthy(bulk.metrics.metrics);
  t.true(bulk.nope.error instanceof ContainerNotFoundError);
  const cap = await backend.capacity();
  t.true(Number(cap.memoryInBytes) > 0 && Number(cap.diskInBytes) > 0 && Number(cap.schedulableDiskInBytes) > 0 && Number(cap.maxContainers) > 0);
  await backend.destroy('metrics');
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const none = await openBackend(d, { network: 'none', reap: false });
  const n = await none.create({ handle: 'metrics-none' });
  t.is((await n.metrics()).networkStat, null);
  await none.destroy('metrics-none');
  await none.close();
});

// ---- network ----

function listenInContainer(c: DockerContainer, port: number, reply: string) {
  return c.run({ path: 'sh', args: ['-c', `while true; do echo ${reply} | nc -l -p ${port}; done`] }, {});
}

/** One connection's worth of data; retries while the container's nc loop is between listeners. */
async function fetchTcp(host: string, port: number, timeoutMs = 3000): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await fetchOnce(host, port, timeoutMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || i >= 20) throw err;
      await sleep(100);
    }
  }
}

function fetchOnce(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, timeoutMs);
    s.on('data', (d) => (data += d));
    s.on('end', () => { clearTimeout(timer); resolve(data); s.destroy(); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

test('netIn: DNAT from the host (127.0.0.1 and the host IP), allocated ports, rules removed on destroy', async (t) => {
  const c = await backend.create({ handle: 'netin', netIn: [{ hostPort: 0, containerPort: 8080 }] });
  await listenInContainer(c, 8080, 'hello-8080');
  const [m] = (await c.info()).mappedPorts;
  t.true(m.hostPort >= 61001 && m.hostPort <= 65534);
  t.is(m.containerPort, 8080);
  const m2 = await c.netIn(0, 0);
  t.is(m2.containerPort, m2.hostPort);
  await listenInContainer(c, m2.containerPort, 'same-port');
  await sleep(300);
  t.is((await fetchTcp('127.0.0.1', m.hostPort)).trim(), 'hello-8080');
  t.is((await fetchTcp(backend.externalIP, m.hostPort)).trim(), 'hello-8080');
  t.is((await fetchTcp('127.0.0.1', m2.hostPort)).trim(), 'same-port');
  await t.throwsAsync(c.netIn(m.hostPort, 9000), { instanceOf: GardenError, message: /already mapped/ });
  const name = (c as unknown as { name: string }).name;
  await backend.destroy('netin');
  const nat = execFileSync('iptables', ['-w', '-t', 'nat', '-S']).toString();
  const filter = execFileSync('iptables', ['-w', '-S']).toString();
  t.false(nat.includes(name));
  t.false(filter.includes(name));
  t.false(filter.includes(outChain(name)));
  await t.throwsAsync(fetchOnce('127.0.0.1', m.hostPort, 1000));
});

test('netOut: nothing outside is reachable until a rule allows it', async (t) => {
  const server = await backend.create({ handle: 'nout-server' });
  const client = await backend.create({ handle: 'nout-client' });
  await listenInContainer(server, 7000, 'srv7000');
  await listenInContainer(server, 7001, 'srv7001');
  // A host service the client tries to reach through the bridge gateway.
  const hostSrv = net.createServer((s) => s.end('host-side\n'));
  await new Promise<void>((r) => hostSrv.listen(0, '0.0.0.0', r));
  t.teardown(() => hostSrv.close());
  const hostPort = (hostSrv.address() as net.AddressInfo).port;
  const sip = (await server.info()).containerIP;
  const gw = (await client.info()).hostIP;
  await sleep(300);
  const tryTcp = async (ip: string, port: number) => (await exec(client, 'sh', ['-c', `nc -w 2 ${ip} ${port} </dev/null`])).out.trim();
  // Where a connection must succeed, a loaded machine gets a few tries.
  const reach = async (ip: string, port: number) => {
    let got = '';
    for (let i = 0; i < 4 && !got; i++) got = (await exec(client, 'sh', ['-c', `nc -w 5 ${ip} ${port} </dev/null`])).out.trim();
    return got;
  };
  t.is(await tryTcp(gw, hostPort), '');
  await client.netOut({ protocol: Protocol.TCP, networks: [{ start: gw, end: gw }], ports: [{ start: hostPort, end: hostPort }] });
  t.is(await reach(gw, hostPort), 'host-side');
  await client.bulkNetOut([{ protocol: Protocol.All, networks: [{ start: sip, end: sip }] }]);
  t.is(await reach(sip, 7001), 'srv7001');
  await t.throwsAsync(client.netOut({ protocol: Protocol.All, ports: [{ start: 1, end: 2 }] }), { instanceOf: InvalidSpecError });
  await t.throwsAsync(client.netOut({ protocol: Protocol.TCP, networks: [{ start: 'not-an-ip' }] }), { instanceOf: InvalidSpecError });
  await backend.destroy('nout-server');
  await backend.destroy('nout-client');
});

test('netOut: an address reused before the old container\'s rules are gone is governed by the new rules only', async (t) => {
  // What a destroy racing a create leaves for a moment: the old jump for the same address.
  const ip = '10.254.77.9';
  const host = await backend.networkHost();
  const jumps = () => execFileSync('iptables', ['-w', '-S', 'INPUT']).toString().split('\n').filter((l) => l.includes(`${ip}/32`));
  t.teardown(async () => { await cleanupNetwork(host, 'ng-stale-old'); await cleanupNetwork(host, 'ng-stale-new'); });
  await setupNetOut(host, 'ng-stale-old', ip);
  t.is(jumps().length, 1);
  await setupNetOut(host, 'ng-stale-new', ip);
  t.deepEqual(jumps().map((l) => l.split(' ').at(-1)), [outChain('ng-stale-new')]);
  await cleanupNetwork(host, 'ng-stale-old');
  t.is(jumps().length, 1, 'the old container\'s clean-up leaves the new jump alone');
});

test('bandwidth: tc on the host veth', async (t) => {
  const c = await backend.create({ handle: 'bw', limits: { bandwidth: { rateInBytesPerSecond: 1 << 20, burstRateInBytesPerSecond: 64 << 10 } } });
  t.deepEqual(await c.currentBandwidthLimits(), { rateInBytesPerSecond: 1 << 20, burstRateInBytesPerSecond: 64 << 10 });
  const pid = (await docker.getContainer((c as unknown as { name: string }).name).inspect()).State.Pid;
  const link = (await run$('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'eth0'])).stdout;
  const ifindex = /eth0@if(\d+)/.exec(link)![1];
  const veth = (await run$('ip', ['-o', 'link'])).stdout.split('\n').find((l) => l.startsWith(`${ifindex}: `))!.split(':')[1].trim().replace(/@.*/, '');
  const qdisc = (await run$('tc', ['qdisc', 'show', 'dev', veth])).stdout;
  t.regex(qdisc, /tbf .*rate 8388Kbit/);
  t.regex((await run$('nsenter', ['-t', String(pid), '-n', 'tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout, /tbf .*rate 8388Kbit/);
  await backend.destroy('bw');
});

test('bad specs: missing bind-mount source, custom networks, process images', async (t) => {
  await t.throwsAsync(backend.create({ handle: 'bad1', bindMounts: [{ srcPath: '/no/such/dir', dstPath: '/x' }] }), { instanceOf: InvalidSpecError });
  await t.throwsAsync(backend.create({ handle: 'bad2', image: { uri: 'docker:///no-such-image-here#nope' } }), { instanceOf: InvalidSpecError });
  await t.throwsAsync(backend.create({ handle: 'bad3', network: '10.9.0.0/30' }), { instanceOf: InvalidSpecError });
  await t.throwsAsync(backend.lookup('bad1'), { instanceOf: ContainerNotFoundError });
  const c = await backend.create({ handle: 'binds', bindMounts: [{ srcPath: root + '/scripts', dstPath: '/mnt/scripts' }], image: { uri: `docker:///${TEST_IMAGE.split(':')[0]}#${TEST_IMAGE.split(':')[1]}` } });
  t.is((await exec(c, 'ls', ['/mnt/scripts/setup.sh'])).code, 0);
  t.not((await exec(c, 'touch', ['/mnt/scripts/x'])).code, 0);
  await t.throwsAsync(c.run({ path: 'true', image: { uri: 'docker:///busybox' } }, {}), { instanceOf: InvalidSpecError });
  await backend.destroy('binds');
});

// ---- out of memory ----

function stateOf(d: string, c: DockerContainer): { events: string[]; ip: string } {
  return JSON.parse(readFileSync(path.join(d, 'containers', c.name, 'state.json'), 'utf8'));
}

test('out of memory: the killed process exits 137, info shows "oom", and keeps showing it after a restart', async (t) => {
  t.timeout(180_000);
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const b = await openBackend(d, { network: 'none' });
  const c = await b.create({ handle: 'oom', limits: { memory: { limitInBytes: 32 << 20 } } });
  const calm = await exec(c, 'sh', ['-c', 'x=$(head -c 1000000 /dev/zero | tr "\\0" a); echo ${#x}']);
  t.is(calm.out, '1000000\n');
  t.deepEqual((await c.info()).events, []);
  // A shell variable really holds its 100 MB (a pipe to /dev/null would not).
  const hog = await exec(c, 'sh', ['-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived ${#x}']);
  t.is(hog.code, 137);
  t.notRegex(hog.out, /survived/);
  // The engine's event stream records it without anyone asking for info.
  for (let i = 0; i < 100 && !stateOf(d, c).events.includes('oom'); i++) await sleep(100);
  t.deepEqual(stateOf(d, c).events, ['oom']);
  t.deepEqual((await c.info()).events, ['oom']);
  t.is((await b.bulkInfo(['oom'])).oom.info?.events?.[0], 'oom');
  // The container lives on.
  t.is((await exec(c, 'echo', ['alive'])).out, 'alive\n');
  await b.close();

  // A restarted backend reports it from the depot...
  const b2 = await openBackend(d, { network: 'none' });
  t.deepEqual((await (await b2.lookup('oom')).info()).events, ['oom']);
  await b2.close();
  // ...and finds it again in the cgroup's oom_kill counter (or the engine's events) when the depot lost it.
  const file = path.join(d, 'containers', c.name, 'state.json');
  const s = JSON.parse(readFileSync(file, 'utf8'));
  s.events = [];
  writeFileSync(file, JSON.stringify(s));
  const b3 = await openBackend(d, { network: 'none' });
  t.deepEqual((await (await b3.lookup('oom')).info()).events, ['oom']);
  // Only once, however often it happens.
  const again = await b3.lookup('oom');
  t.is((await exec(again, 'sh', ['-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a)'])).code, 137);
  t.deepEqual((await again.info()).events, ['oom']);
  await b3.destroy('oom');
  await b3.close();
});

// ---- many containers, concurrent destroys ----

test('50 containers created 5 at a time: all listed (containers(), docker ps), all working, all gone after destroy', async (t) => {
  t.timeout(600_000);
  const handles = Array.from({ length: 50 }, (_, i) => `many-${i}`);
  const pool = async (fn: (h: string) => Promise<void>) => {
    const todo = [...handles];
    let inFlight = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 5 }, async () => {
      for (let h = todo.shift(); h; h = todo.shift()) {
        peak = Math.max(peak, ++inFlight);
        try {
          await fn(h);
        } finally {
          inFlight--;
        }
      }
    }));
    return peak;
  };
  const peak = await pool(async (h) => {
    const c = await backend.create({ handle: h, env: [`HANDLE=${h}`], properties: { group: 'many' } });
    const r = await exec(c, 'sh', ['-c', 'echo $HANDLE $(hostname)']);
    t.is(r.out, `${h} ${h}\n`);
  });
  t.is(peak, 5);
  t.deepEqual((await backend.containers({ group: 'many' })).map((c) => c.handle).sort(), [...handles].sort());
  const ps = () => execFileSync('docker', ['ps', '-a', '--filter', `label=${LABEL_DEPOT}=${depot}`, '--format', '{{.Label "node-garden.handle"}} {{.State}}'])
    .toString().split('\n').filter((l) => l.startsWith('many-'));
  t.deepEqual(ps().sort(), handles.map((h) => `${h} running`).sort());
  const names = (await backend.containers({ group: 'many' })).map((c) => c.name);
  await pool((h) => backend.destroy(h));
  t.deepEqual(await backend.containers({ group: 'many' }), []);
  t.deepEqual(ps(), []);
  for (const n of names) t.false(existsSync(path.join(depot, 'containers', n)), n);
});

test('concurrent destroys of one handle: all settle, the container, its processes, depot dir and rules are gone', async (t) => {
  const c = await backend.create({ handle: 'twice', netIn: [{ hostPort: 0, containerPort: 8080 }] });
  const name = c.name;
  const pid = (await docker.getContainer(name).inspect()).State.Pid;
  const proc = await c.run({ path: 'sleep', args: ['1000'] }, {});
  const results = await Promise.allSettled([backend.destroy('twice'), backend.destroy('twice'), (async () => {
    await sleep(5);
    return backend.destroy('twice');
  })()]);
  for (const r of results) {
    // Either it joined the destroy in flight, or it came after and was told clearly.
    if (r.status === 'rejected') t.true(r.reason instanceof ContainerNotFoundError, String(r.reason));
  }
  t.is(results[0].status, 'fulfilled');
  t.is(results[1].status, 'fulfilled');
  await t.throwsAsync(backend.destroy('twice'), { instanceOf: ContainerNotFoundError });
  await t.throwsAsync(backend.lookup('twice'), { instanceOf: ContainerNotFoundError });
  await t.throwsAsync(proc.wait()); // init-d went with the container: the attachment ends, no exit code
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_HANDLE}=twice`] } }), []);
  t.false(existsSync(`/proc/${pid}`));
  t.false(existsSync(path.join(depot, 'containers', name)));
  t.false(execFileSync('iptables-save').toString().includes(name));

  // Two backends of one depot destroying the same container at once: both settle without a crash.
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const b1 = await openBackend(d, { network: 'none' });
  const x = await b1.create({ handle: 'shared' });
  const b2 = await openBackend(d, { network: 'none' });
  const both = await Promise.allSettled([b1.destroy('shared'), b2.destroy('shared')]);
  for (const r of both) if (r.status === 'rejected') t.true(r.reason instanceof GardenError, String(r.reason));
  t.true(both.some((r) => r.status === 'fulfilled'));
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${d}`] } }), []);
  t.false(existsSync(path.join(d, 'containers', x.name)));
  await b1.close();
  await b2.close();
});

// ---- stream-out as a user ----

test('streamOut as a user reads with that user\'s permissions; root reads everything', async (t) => {
  const c = await backend.create({ handle: 'out-user' });
  const setup = await exec(c, 'sh', ['-c', [
    'mkdir -p /srv/d/sub /srv/closed',
    'echo public > /srv/d/pub.txt', 'echo deep > /srv/d/sub/deep.txt',
    'echo secret > /srv/d/secret.txt', 'chmod 600 /srv/d/secret.txt',
    'echo only-alice > /srv/d/alice.txt', 'chown alice /srv/d/alice.txt', 'chmod 600 /srv/d/alice.txt',
    'echo hidden > /srv/closed/x', 'chmod 700 /srv/closed',
  ].join(' && ')]);
  t.is(setup.code, 0, setup.err);
  // Readable by alice: streamed as her, the same layout as root gets.
  const pub = await untar(await c.streamOut({ path: '/srv/d/pub.txt', user: 'alice' }));
  t.deepEqual(Object.keys(pub), ['pub.txt']);
  t.is(pub['pub.txt'].body, 'public\n');
  const own = await untar(await c.streamOut({ path: '/srv/d/alice.txt', user: 'alice' }));
  t.is(own['alice.txt'].body, 'only-alice\n');
  const sub = await untar(await c.streamOut({ path: '/srv/d/sub', user: 'bob' }));
  t.is(sub['sub/deep.txt'].body, 'deep\n');
  // A trailing slash streams the contents (Garden's semantics), for root and users alike.
  const contentsAsBob = await untar(await c.streamOut({ path: '/srv/d/sub/', user: 'bob' }));
  const contentsAsRoot = await untar(await c.streamOut({ path: '/srv/d/sub/' }));
  t.is(contentsAsBob['./deep.txt']?.body, 'deep\n');
  t.is(contentsAsRoot['./deep.txt']?.body, 'deep\n');
  // Unreadable by alice: refused, nothing handed out.
  await t.throwsAsync(c.streamOut({ path: '/srv/d/secret.txt', user: 'alice' }), { instanceOf: GardenError, message: /Permission denied/ });
  await t.throwsAsync(c.streamOut({ path: '/srv/closed/x', user: 'alice' }), { instanceOf: GardenError, message: /Permission denied/ });
  await t.throwsAsync(c.streamOut({ path: '/srv/d/alice.txt', user: 'bob' }), { instanceOf: GardenError, message: /Permission denied/ });
  // A directory with one unreadable file fails as a whole, not silently short.
  await t.throwsAsync(c.streamOut({ path: '/srv/d', user: 'alice' }), { instanceOf: GardenError, message: /secret\.txt.*Permission denied/ });
  await t.throwsAsync(c.streamOut({ path: '/srv/nothing', user: 'alice' }), { instanceOf: GardenError, message: /does not exist/ });
  await t.throwsAsync(c.streamOut({ path: '/srv/d', user: 'nobody-here' }), { instanceOf: InvalidSpecError, message: /unknown user/ });
  // Root (by name, by uid, or unset) reads it all.
  for (const user of [undefined, 'root', '0']) {
    const all = await untar(await c.streamOut({ path: '/srv/d', ...(user ? { user } : {}) }));
    t.is(all['d/secret.txt'].body, 'secret\n');
    t.is(all['d/alice.txt'].body, 'only-alice\n');
  }
  // Big trees stream (past what is read ahead before answering), and a consumer may stop early.
  t.is((await exec(c, 'sh', ['-c', 'head -c 3000000 /dev/urandom > /home/alice/big && chown alice /home/alice/big'])).code, 0);
  const ex = tar.extract();
  (await c.streamOut({ path: '/home/alice/big', user: 'alice' })).pipe(ex);
  const sizes: Record<string, number> = {};
  for await (const entry of ex) sizes[entry.header.name] = (await collect(entry)).length;
  t.deepEqual(sizes, { big: 3000000 });
  const early = await c.streamOut({ path: '/home/alice/big', user: 'alice' });
  early.destroy();
  // The helper processes never show up as the container's processes.
  for (let i = 0; i < 50 && (await c.info()).processIDs.length; i++) await sleep(100);
  t.deepEqual((await c.info()).processIDs, []);
  await backend.destroy('out-user');
});

// ---- restart: grace timers and net-in after SIGKILL ----

test('SIGKILL of the backend: grace timers run on, net-in mappings stay reachable, lost rules are put back', async (t) => {
  t.timeout(240_000);
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const script = `
    import { openBackend } from './test/support/docker.ts';
    const b = await openBackend(process.argv[1], { reap: true });
    const c = await b.create({ handle: 'mapped', graceTime: 600000 });
    const m = await c.netIn(0, 8080);
    await c.run({ id: 'listener', path: 'sh', args: ['-c', 'while true; do echo mapped-here | nc -l -p 8080; done'] }, {});
    await b.create({ handle: 'idle', graceTime: 6000 });
    process.stdout.write(JSON.stringify(m) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script, d], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (b) => resolve(b.toString())));
  const mapping = JSON.parse(line) as { hostPort: number; containerPort: number };
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.is((await fetchTcp('127.0.0.1', mapping.hostPort)).trim(), 'mapped-here'); // the kernel forwards, no server needed

  // Meanwhile the host loses the mapping's DNAT rule (a flush, an admin).
  const name = containerName(d, 'mapped');
  const dnat = execFileSync('iptables', ['-w', '-t', 'nat', '-S', 'NG-NETIN']).toString().split('\n').find((l) => l.includes(name))!;
  t.truthy(dnat);
  execFileSync('iptables', ['-w', '-t', 'nat', ...dnat.replace(/^-A /, '-D ').split(' ').map((a) => a.replace(/^"(.*)"$/, '$1'))]);
  await t.throwsAsync(fetchOnce('127.0.0.1', mapping.hostPort, 1000));

  const b2 = await openBackend(d);
  t.teardown(() => b2.close());
  const opened = Date.now();
  // Still there right after the restart (its countdown starts again from the full grace time)...
  t.deepEqual((await b2.containers()).map((c) => c.handle).sort(), ['idle', 'mapped']);
  const c = await b2.lookup('mapped');
  t.deepEqual((await c.info()).mappedPorts, [mapping]);
  t.deepEqual((await c.info()).processIDs, ['listener']);
  t.is((await fetchTcp('127.0.0.1', mapping.hostPort)).trim(), 'mapped-here');
  t.is((await fetchTcp(b2.externalIP, mapping.hostPort)).trim(), 'mapped-here');
  // Allocation knows the restored mapping.
  const m2 = await c.netIn(0, 9090);
  t.not(m2.hostPort, mapping.hostPort);
  await t.throwsAsync(c.netIn(mapping.hostPort, 9091), { message: /already mapped/ });
  // ...and the idle one is reaped by the new backend without anyone touching it.
  const idleLeft = () => docker.listContainers({ all: true, filters: { label: [`${LABEL_HANDLE}=idle`, `${LABEL_DEPOT}=${d}`] } });
  const idleDir = path.join(d, 'containers', containerName(d, 'idle'));
  while (((await idleLeft()).length || existsSync(idleDir)) && Date.now() - opened < 30_000) await sleep(200);
  t.deepEqual(await idleLeft(), []);
  t.true(Date.now() - opened >= 5500, `reaped after ${Date.now() - opened} ms`);
  t.false(existsSync(idleDir));
  t.deepEqual((await b2.containers()).map((x) => x.handle), ['mapped']);
  await b2.destroy('mapped');
  t.false(execFileSync('iptables-save').toString().includes(name));
});

// ---- destroy clean-up ----

test('destroy removes everything: processes, container, depot dir, iptables rules and chain, the veth with its tc qdisc', async (t) => {
  const c = await backend.create({
    handle: 'cleanup', netIn: [{ hostPort: 0, containerPort: 8080 }],
    netOut: [{ protocol: Protocol.TCP, networks: [{ start: '10.1.2.3', end: '10.1.2.3' }], ports: [{ start: 80, end: 80 }], log: true }],
    limits: { bandwidth: { rateInBytesPerSecond: 1 << 20, burstRateInBytesPerSecond: 64 << 10 } },
  });
  const name = c.name;
  const pid = (await docker.getContainer(name).inspect()).State.Pid;
  const link = (await run$('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'eth0'])).stdout;
  const ifindex = /eth0@if(\d+)/.exec(link)![1];
  const veth = (await run$('ip', ['-o', 'link'])).stdout.split('\n').find((l) => l.startsWith(`${ifindex}: `))!.split(':')[1].trim().replace(/@.*/, '');
  t.regex((await run$('tc', ['qdisc', 'show', 'dev', veth])).stdout, /tbf/);
  const rules = () => execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes(name) || l.includes(outChain(name)));
  t.true(rules().length >= 6, rules().join('\n'));
  const p = await c.run({ path: 'sh', args: ['-c', 'sleep 1000 & sleep 1000'] }, {});
  const children = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString().split('\n').map((l) => l.trim().split(/\s+/).map(Number)).filter(([, pp]) => pp === pid).map(([x]) => x);
  t.true(children.length >= 1);
  await backend.destroy('cleanup');
  await t.throwsAsync(p.wait());
  for (const x of [pid, ...children]) t.false(existsSync(`/proc/${x}`), `pid ${x}`);
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_HANDLE}=cleanup`] } }), []);
  t.false(existsSync(path.join(depot, 'containers', name)));
  t.deepEqual(rules(), []);
  await t.throwsAsync(run$('ip', ['link', 'show', veth])); // the veth, and the qdisc on it, are gone
  t.false((await run$('tc', ['qdisc', 'show'])).stdout.includes(veth));
});

// ---- rootfs from a directory or a tarball ----

test('rootfs: a directory (path or raw://) or a tarball is imported once, cached by content', async (t) => {
  t.timeout(300_000);
  const work = makeDepot('ngd-rootfs-');
  const refs = new Set<string>();
  t.teardown(async () => {
    for (const h of ['rd1', 'rd2', 'rd3', 'rd4', 'rt1', 'rt2']) await backend.destroy(h).catch(() => {});
    for (const r of refs) await docker.getImage(r).remove({ force: true }).catch(() => {});
    (await import('node:fs')).rmSync(work, { recursive: true, force: true });
  });
  const dir = path.join(work, 'rootfs');
  execFileSync('bash', [path.join(root, 'scripts/make-rootfs.sh'), dir], { stdio: 'ignore' });
  writeFileSync(path.join(dir, 'etc/marker'), 'v1\n');
  const imported = async () => (await docker.listImages({ filters: { reference: ['node-garden-rootfs'] } })).flatMap((i) => i.RepoTags ?? []);
  const imageOf = (c: DockerContainer) => { refs.add(c.state.image); return c.state.image; };

  const a = await backend.create({ handle: 'rd1', rootfsPath: dir });
  t.is((await exec(a, 'cat', ['/etc/marker'])).out, 'v1\n');
  t.is((await exec(a, 'id', ['-un'], { user: 'alice' })).out, 'alice\n');
  const count = (await imported()).length;
  // Same tree, by raw:// and from a copy elsewhere: the same image, no new import.
  const b = await backend.create({ handle: 'rd2', image: { uri: `raw://${dir}` } });
  const copy = path.join(work, 'copy');
  execFileSync('cp', ['-a', dir, copy]);
  const c = await backend.create({ handle: 'rd3', rootfsPath: copy });
  t.is(imageOf(b), imageOf(a));
  t.is(imageOf(c), imageOf(a));
  t.is((await imported()).length, count);
  // A changed file: a new image with the change in it.
  writeFileSync(path.join(copy, 'etc/marker'), 'v2 longer\n');
  const d = await backend.create({ handle: 'rd4', rootfsPath: copy });
  t.not(imageOf(d), imageOf(a));
  t.is((await exec(d, 'cat', ['/etc/marker'])).out, 'v2 longer\n');

  // A tarball, hashed by its bytes: a copy of it is the same image.
  const tarball = path.join(work, 'rootfs.tar');
  execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', tarball, '.']);
  const e = await backend.create({ handle: 'rt1', rootfsPath: tarball });
  t.is((await exec(e, 'cat', ['/etc/marker'])).out, 'v1\n');
  execFileSync('cp', [tarball, `${tarball}.copy`]);
  const f = await backend.create({ handle: 'rt2', image: { uri: `${tarball}.copy` } });
  t.is(imageOf(f), imageOf(e));
  await t.throwsAsync(backend.create({ handle: 'rt3', rootfsPath: path.join(work, 'nope') }), { instanceOf: InvalidSpecError, message: /rootfs not found/ });
});
