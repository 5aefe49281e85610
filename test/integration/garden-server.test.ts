import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GardenClient } from '../../src/client/index.js';
import { root } from '../support/initd.js';

const image = 'docker:///node-garden/busybox#test';
let dir: string;

test.before(() => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root });
  dir = mkdtempSync(path.join(tmpdir(), 'garden-server-'));
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Each test has its own depot: a depot is locked by the backend that has it open.
function startServer(socket: string, extra: string[] = []): { child: ChildProcess; logs: () => string[] } {
  const depot = path.join(dir, `depot-${path.basename(socket, '.sock')}`);
  const child = spawn(process.execPath, [path.join(root, 'bin/garden.js'), 'server', '--bind-socket', socket, '--depot', depot, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return { child, logs: () => out.split('\n').filter(Boolean) };
}

async function until(what: () => boolean | Promise<boolean>, ms = 15000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await what()) return;
  throw new Error('timed out');
}

test('garden server: serves Docker over a unix socket, logs JSON, survives its own restart', async (t) => {
  const socket = path.join(dir, 'garden.sock');
  const first = startServer(socket, ['--debug-bind-port', '0']);
  await until(() => existsSync(socket));
  const client = new GardenClient(`unix://${socket}`);
  await until(() => client.ping().then(() => true, () => false));
  const started = first.logs().map((l) => JSON.parse(l)).find((l) => l.msg === 'garden-server-started');
  t.truthy(started, 'a JSON start line');
  t.is(started.backend, 'DockerBackend');

  const c = await client.create({ handle: `srv-${process.pid}`, image: { uri: image } });
  try {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const p = await client.lookup(c.handle).then((x) => x.run({ id: 'long', path: 'sh', args: ['-c', 'echo one; sleep 1; echo two; exit 6'] }, { stdout: out }));
    await until(() => text.includes('one'));

    // SIGTERM: a clean stop that leaves containers and processes running.
    const exited = new Promise<number | null>((r) => first.child.once('exit', (code) => r(code)));
    first.child.kill('SIGTERM');
    t.is(await exited, 0);
    t.true(first.logs().some((l) => JSON.parse(l).msg === 'garden-server-stopped'));
    void p.wait().catch(() => {});
    const ps = execFileSync('docker', ['ps', '--filter', `label=node-garden.handle=${c.handle}`, '--format', '{{.ID}}']).toString().trim();
    t.not(ps, '', 'the container still runs');

    const second = startServer(socket);
    try {
      await until(() => client.ping().then(() => true, () => false));
      t.true((await client.containers()).some((x) => x.handle === c.handle));
      const again = new PassThrough();
      let rest = '';
      again.on('data', (d) => (rest += d));
      const q = await (await client.lookup(c.handle)).attach('long', { stdout: again });
      t.is(await q.wait(), 6);
      t.regex(rest, /two\n$/);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  } finally {
    const cleanup = startServer(socket);
    await until(() => client.ping().then(() => true, () => false));
    await client.destroy(c.handle).catch(() => {});
    cleanup.child.kill('SIGTERM');
    await new Promise((r) => cleanup.child.once('exit', r));
  }
});

test('garden server: the debug listener answers /debug/vars with memstats', async (t) => {
  const socket = path.join(dir, 'debug.sock');
  const port = 17000 + (process.pid % 2000);
  const s = startServer(socket, ['--debug-bind-ip', '127.0.0.1', '--debug-bind-port', String(port)]);
  try {
    await until(() => existsSync(socket));
    const body = await until2(() => get(`http://127.0.0.1:${port}/debug/vars`));
    const vars = JSON.parse(body);
    t.true(vars.memstats.Alloc > 0);
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
});

test('garden server: bad flags are one line and a non-zero exit', (t) => {
  try {
    execFileSync(process.execPath, [path.join(root, 'bin/garden.js'), 'server', '--backend', 'nope', '--depot', path.join(dir, 'd2')], { stdio: 'pipe' });
    t.fail('should have failed');
  } catch (err) {
    const e = err as { status: number; stderr: Buffer };
    t.not(e.status, 0);
    t.regex(e.stderr.toString(), /^garden: server: unknown backend 'nope'/);
    t.is(e.stderr.toString().trim().split('\n').length, 1);
  }
});

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function until2<T>(fn: () => Promise<T>, ms = 15000): Promise<T> {
  for (const end = Date.now() + ms; ; await sleep(50)) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
    }
  }
}
