// The `garden` CLI as a person (or a script) uses it: the built bin/garden.js
// as a child process, on real pipes or a real pty, against a GardenServer
// serving the fake backend on a unix socket (and on TCP) in this process.

import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tty from 'node:tty';
import tar from 'tar-stream';
import type { ProcessIO } from '../../src/api/garden.js';
import type { ProcessSpec } from '../../src/api/types.js';
import { closeFd, openpty, setWinsize } from '../../src/initd/native.js';
import { GardenServer } from '../../src/server/index.js';
import { FakeBackend, FakeContainer, type FakeProcess } from '../support/fake-backend.js';
import { root } from '../support/initd.js';

const garden = path.join(root, 'bin/garden.js');
const backend = new FakeBackend();
let dir: string;
let socket: string;
let unixServer: GardenServer;
let tcpServer: GardenServer;
let tcpAddr: string;

// Every ProcessSpec the backend is asked to run, to check what flags became.
const runSpecs: ProcessSpec[] = [];
const originalRun = FakeContainer.prototype.run;
FakeContainer.prototype.run = function (this: FakeContainer, spec: ProcessSpec, io: ProcessIO) {
  runSpecs.push(spec);
  return originalRun.call(this, spec, io);
};
const specFor = (marker: string) => runSpecs.find((s) => [s.path, ...(s.args ?? [])].join(' ').includes(marker));

test.before(async () => {
  // bin/ runs the built CLI. tsc exits non-zero on a type error anywhere in the
  // tree but still emits; what matters here is that the CLI was built.
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    if (!existsSync(path.join(root, 'dist/src/cli/garden.js'))) throw err;
  }
  dir = mkdtempSync(path.join(tmpdir(), 'garden-cli-'));
  socket = path.join(dir, 'garden.sock');
  unixServer = new GardenServer(backend, { bindSocket: socket });
  await unixServer.listen();
  tcpServer = new GardenServer(backend, { bindIp: '127.0.0.1', bindPort: 0 });
  await tcpServer.listen();
  const a = tcpServer.address() as { host: string; port: number };
  tcpAddr = `${a.host}:${a.port}`;
});

test.after.always(async () => {
  backend.killAll();
  await unixServer?.close();
  await tcpServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Buffer;
}

/** Runs garden on pipes (never sync: the server lives in this process). */
function g(args: string[], opts: { input?: string | Buffer; env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<Result> {
  const env: Record<string, string | undefined> = { ...process.env, GARDEN_ADDR: socket, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, [garden, ...args], { cwd: opts.cwd, env: env as NodeJS.ProcessEnv, stdio: 'pipe' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => {});
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      resolve({ code, stdout: stdout.toString(), stderr: Buffer.concat(err).toString(), out: stdout });
    });
  });
}

/** Creates a container through the CLI; returns its handle. */
async function created(args: string[]): Promise<string> {
  const r = await g(['create', ...args]);
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Runs garden with stdio on a fresh pty (100x30), as a person at a terminal;
 * `pipes` keeps stdin/stdout on pipes and puts only stderr on the pty.
 */
async function onTerminal(
  args: string[],
  script: (io: { write: (s: string) => void; screen: () => string; resize: (c: number, r: number) => void }) => Promise<void>,
  opts: { stderrOnly?: boolean; afterExit?: (slave: number) => void } = {},
) {
  const pty = openpty(100, 30);
  const stdio = opts.stderrOnly ? (['pipe', 'pipe', pty.slave] as const) : ([pty.slave, pty.slave, pty.slave] as const);
  const child = spawn(process.execPath, [garden, ...args], { stdio: [...stdio], detached: true, env: { ...process.env, GARDEN_ADDR: socket } });
  child.stdin?.end();
  child.stdout?.resume();
  const reader = new tty.ReadStream(pty.master);
  let screen = '';
  reader.on('data', (d) => (screen += d.toString()));
  reader.on('error', () => {});
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await script({
    write: (s) => void writeSync(pty.master, s),
    screen: () => screen,
    resize: (c, r) => {
      setWinsize(pty.master, c, r);
      process.kill(child.pid!, 'SIGWINCH');
    },
  });
  const code = await exited;
  await sleep(50);
  // Our end of the slave stays open till here, so the terminal can be inspected afterwards.
  try {
    opts.afterExit?.(pty.slave);
  } finally {
    closeFd(pty.slave);
    reader.destroy();
  }
  return { code, screen };
}

async function until(what: () => boolean, ms = 5000) {
  for (let i = 0; i < ms / 10 && !what(); i++) await sleep(10);
}

function makeTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
}

async function readTar(buf: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        files[header.name] = Buffer.concat(chunks).toString();
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([buf]).pipe(extract);
  await done;
  return files;
}

// ── help and usage errors ───────────────────────────────────────────────

test('--help at the top level lists the verbs; no verb is a usage error', async (t) => {
  const r = await g(['--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^usage: garden \[-t ADDR\] VERB/);
  for (const verb of ['ping', 'capacity', 'create', 'list', 'info', 'destroy', 'stop', 'run', 'attach', 'shell',
    'stream-in', 'stream-out', 'net-in', 'net-out', 'property', 'metrics', 'server']) {
    t.regex(r.stdout, new RegExp(`^  ${verb} `, 'm'), verb);
  }
  t.is(r.stderr, '');
  const none = await g([]);
  t.is(none.code, 2);
  t.is(none.stdout, '');
  t.regex(none.stderr, /^usage: garden /);
});

test('--help for a verb, a subcommand, and `help VERB`', async (t) => {
  const create = await g(['create', '--help']);
  t.is(create.code, 0);
  t.regex(create.stdout, /^usage: garden create \[flags\]\n/);
  t.regex(create.stdout, /--bind-mount SRC:DST\[:ro\]/);
  const run = await g(['run', '-h']);
  t.is(run.code, 0);
  t.regex(run.stdout, /^usage: garden run HANDLE \[flags\] \[--\] CMD/);
  t.is((await g(['help', 'run'])).stdout, run.stdout);
  t.is((await g(['--help', 'run'])).stdout, run.stdout);
  const sub = await g(['property', 'set', '--help']);
  t.is(sub.code, 0);
  t.regex(sub.stdout, /^usage: garden property set HANDLE KEY VALUE/);
  const prop = await g(['property', '--help']);
  t.regex(prop.stdout, /^usage: garden property get\|set\|rm\|list/);
  // A --help that belongs to the command is the command's.
  const h = await created([]);
  const cmd = await g(['run', h, '--', 'printf', '%s\\n', '--help']);
  t.is(cmd.code, 0);
  t.is(cmd.stdout, '--help\n');
});

test('a bad flag, verb or value: one line on stderr, exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['create', '--frob'], /^garden: create: unknown option '--frob' \(see 'garden create --help'\)\n$/],
    [['frob'], /^garden: unknown verb 'frob' \(see 'garden --help'\)\n$/],
    [['--frob', 'list'], /^garden: unknown option '--frob'/],
    [['create', '--memory', 'lots'], /^garden: --memory: not a size: 'lots'/],
    [['create', '--grace-time', 'soon'], /^garden: --grace-time: not a duration: 'soon'/],
    [['create', '--property', 'novalue'], /^garden: --property wants KEY=VALUE, got 'novalue'\n$/],
    [['create', '--bind-mount', '/only-one'], /^garden: --bind-mount wants SRC:DST/],
    [['run', 'h1'], /^garden: run: which command\?/],
    [['info'], /^garden: info: missing arguments; usage: garden info HANDLE/],
    [['info', 'a', 'b'], /^garden: info: unexpected argument 'b'/],
    [['property', 'frob', 'h'], /^garden: property: unknown subcommand 'frob'/],
    [['-t', 'no-port', 'ping'], /^garden: bad target 'no-port'/],
    [['list', '--target', 'x'], /^garden: list: unknown option '--target'/],
  ];
  for (const [args, re] of cases) {
    const r = await g(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stderr.trimEnd().split('\n').length, 1, `one line: ${args.join(' ')}`);
    t.is(r.stdout, '', args.join(' '));
  }
});

// ── the server and containers ────────────────────────────────────────────

test('ping and capacity (text and exact --json)', async (t) => {
  const ping = await g(['ping']);
  t.is(ping.code, 0);
  t.is(ping.stdout + ping.stderr, '');
  backend.pingError = new Error('disk on fire');
  try {
    const bad = await g(['ping']);
    t.is(bad.code, 1);
    t.is(bad.stderr, 'garden: disk on fire\n');
  } finally {
    backend.pingError = null;
  }
  const cap = await g(['capacity']);
  t.is(cap.code, 0);
  t.regex(cap.stdout, /^max containers: +42$/m);
  t.regex(cap.stdout, /^memory: +1\.1 KiB \(1111 bytes\)$/m);
  const json = await g(['capacity', '--json']);
  t.regex(json.stdout, /"schedulableDiskInBytes": 18446744073709551615/);
  t.is(JSON.parse(json.stdout).maxContainers, 42);
});

test('create prints the handle; properties, env, limits and the rest reach the backend', async (t) => {
  const h = await created([
    '--handle', 'web-1', '--property', 'team=web', '--property', 'tier=front', '--env', 'GREETING=hej',
    '--memory', '512M', '--cpu', '256', '--pids', '100', '--disk', '1G', '--grace-time', '5m',
    '--bind-mount', '/srv/data:/data:ro', '--bind-mount', '/srv/logs:/logs', '--image', 'docker:///busybox#1', '--privileged',
  ]);
  t.is(h, 'web-1');
  // What a user can see of it: list --property, info, and the env of a process.
  t.is((await g(['list', '--property', 'team=web', '--property', 'tier=front'])).stdout, 'web-1\n');
  t.is((await g(['list', '--property', 'team=nobody'])).stdout, '');
  const info = await g(['info', h]);
  t.is(info.code, 0);
  t.regex(info.stdout, /^handle: +web-1$/m);
  t.regex(info.stdout, /^state: +active$/m);
  t.regex(info.stdout, /^properties:\n {2}team: +web\n {2}tier: +front$/m);
  t.regex(info.stdout, /^ {2}memory: +512 MiB$/m);
  t.regex(info.stdout, /^ {2}cpu weight: +256$/m);
  t.regex(info.stdout, /^ {2}disk: +1 GiB$/m);
  const json = JSON.parse((await g(['info', h, '--json'])).stdout);
  t.deepEqual(json.properties, { team: 'web', tier: 'front' });
  t.deepEqual(json.limits.memory, { limitInBytes: 512 * 1024 * 1024 });
  t.is((await g(['run', h, '--', 'sh', '-c', 'echo $GREETING'])).stdout, 'hej\n');
  // What only the backend can tell.
  const spec = backend.containers_.get(h)!.spec;
  t.is(backend.containers_.get(h)!.graceTime, 5 * 60_000);
  // RO and Host are Garden's zero values: omitted on the wire, as Go does.
  t.deepEqual(spec.bindMounts, [{ srcPath: '/srv/data', dstPath: '/data' }, { srcPath: '/srv/logs', dstPath: '/logs', mode: 1 }]);
  t.deepEqual(spec.image, { uri: 'docker:///busybox#1' });
  t.true(spec.privileged);
  t.deepEqual(spec.limits?.pid, { max: 100 });

  const again = await g(['create', '--handle', 'web-1']);
  t.is(again.code, 1);
  t.is(again.stderr, 'garden: handle already exists: web-1\n');
  const generated = await created([]);
  t.regex(generated, /^fake-\d+$/);
});

test('list: handles, -v, and --json', async (t) => {
  const a = await created(['--handle', 'list-a', '--property', 'suite=list', '--property', 'n=1']);
  const b = await created(['--handle', 'list-b', '--property', 'suite=list']);
  const r = await g(['list', '--property', 'suite=list']);
  t.is(r.stdout, `${a}\n${b}\n`);
  const v = await g(['list', '-v', '--property', 'suite=list']);
  t.is(v.stdout, 'list-a\tactive\tn=1 suite=list\nlist-b\tactive\tsuite=list\n');
  const json = await g(['list', '--json', '--property', 'suite=list']);
  t.is(json.code, 0);
  t.deepEqual(JSON.parse(json.stdout), [
    { handle: 'list-a', state: 'active', properties: { suite: 'list', n: '1' } },
    { handle: 'list-b', state: 'active', properties: { suite: 'list' } },
  ]);
  t.deepEqual(JSON.parse((await g(['list', '--json', '--property', 'suite=none'])).stdout), []);
  t.true((await g(['list'])).stdout.split('\n').includes('list-a'));
});

test('property get, set, rm, list', async (t) => {
  const h = await created(['--property', 'colour=red']);
  t.is((await g(['property', 'get', h, 'colour'])).stdout, 'red\n');
  t.is((await g(['property', 'set', h, 'colour', 'blue'])).code, 0);
  t.is((await g(['property', 'set', h, 'size=xl'])).code, 0);
  t.is((await g(['property', 'get', h, 'colour'])).stdout, 'blue\n');
  t.is((await g(['property', 'list', h])).stdout, 'colour=blue\nsize=xl\n');
  t.deepEqual(JSON.parse((await g(['property', 'list', h, '--json'])).stdout), { colour: 'blue', size: 'xl' });
  t.is((await g(['property', 'rm', h, 'colour'])).code, 0);
  const gone = await g(['property', 'get', h, 'colour']);
  t.is(gone.code, 1);
  t.is(gone.stderr, 'garden: property does not exist: colour\n');
  t.is((await g(['list', '--property', 'size=xl'])).stdout, `${h}\n`);
});

test('an unknown handle: `garden: unknown handle: X`, exit 1, for every verb that takes one', async (t) => {
  for (const args of [['info', 'nope'], ['destroy', 'nope'], ['run', 'nope', '--', 'true'], ['property', 'get', 'nope', 'k'],
    ['stop', 'nope'], ['metrics', 'nope'], ['attach', 'nope', 'p'], ['stream-out', 'nope', '--from', '/x']]) {
    const r = await g(args);
    t.is(r.code, 1, args.join(' '));
    t.is(r.stderr, 'garden: unknown handle: nope\n', args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});

test('destroy: gone from list, and a second destroy fails', async (t) => {
  const a = await created(['--property', 'suite=destroy']);
  const b = await created(['--property', 'suite=destroy']);
  const r = await g(['destroy', a, b]);
  t.is(r.code, 0);
  t.is(r.stdout + r.stderr, '');
  t.is((await g(['list', '--property', 'suite=destroy'])).stdout, '');
  const again = await g(['destroy', a]);
  t.is(again.code, 1);
  t.is(again.stderr, `garden: unknown handle: ${a}\n`);
});

test('the target: -t with a relative socket path, GARDEN_ADDR with host:port, and an unreachable one', async (t) => {
  const h = await created(['--property', 'suite=target']);
  const rel = await g(['-t', './garden.sock', 'list', '--property', 'suite=target'], { cwd: dir, env: { GARDEN_ADDR: undefined } });
  t.is(rel.stdout, `${h}\n`);
  const tcp = await g(['list', '--property', 'suite=target'], { env: { GARDEN_ADDR: tcpAddr } });
  t.is(tcp.stdout, `${h}\n`);
  const tcpFlag = await g(['--target', tcpAddr, 'list', '--property', 'suite=target'], { env: { GARDEN_ADDR: '/nowhere' } });
  t.is(tcpFlag.stdout, `${h}\n`);
  const missing = path.join(dir, 'missing.sock');
  const r = await g(['ping'], { env: { GARDEN_ADDR: missing } });
  t.is(r.code, 1);
  t.is(r.stderr, `garden: cannot reach the garden server at ${missing}: connect ENOENT ${missing}\n`);
});

// ── processes ────────────────────────────────────────────────────────────

test('run: output, exit code, piped stdin, env, dir, user, id', async (t) => {
  const h = await created([]);
  const r = await g(['run', h, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  t.is(r.code, 7);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  const piped = await g(['run', h, '--', 'tr', 'a-z', 'A-Z'], { input: 'piped in\nand more\n' });
  t.is(piped.code, 0);
  t.is(piped.stdout, 'PIPED IN\nAND MORE\n');
  // Flags after the handle, and no `--`: the command starts at the first word after the handle.
  const flags = await g(['run', h, '-e', 'A=1', '--env', 'B=2', '--dir', '/tmp', '--id', 'flags-proc', '-u', 'nobody', '-a',
    'sh', '-c', 'echo $A$B; pwd; exit 0']);
  t.is(flags.code, 0);
  t.is(flags.stdout, '12\n/tmp\n');
  const spec = runSpecs.find((s) => s.id === 'flags-proc')!;
  t.is(spec.user, 'nobody');
  t.deepEqual(spec.env, ['A=1', 'B=2']);
  t.is(spec.tty, undefined);
  t.is((await g(['run', h, '--', 'sh', '-c', 'kill -9 $$'])).code, 137);
  const missing = await g(['run', h, '--', '/no/such/binary']);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'garden: exec: /no/such/binary: not found\n');
});

test('run into a reader that goes away (`| head`): the process is killed, exit 141, no noise', async (t) => {
  const h = await created([]);
  const child = spawn(process.execPath, [garden, 'run', h, '--', 'yes'], { env: { ...process.env, GARDEN_ADDR: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await new Promise((r) => child.stdout.once('data', r));
  child.stdout.destroy();
  t.is(await closed, 141);
  t.is(stderr, '');
  const running = async () => JSON.parse((await g(['info', h, '--json'])).stdout).processIDs as string[];
  for (let i = 0; i < 50 && (await running()).length; i++) await sleep(100);
  t.deepEqual(await running(), []);
});

test('run -d prints the id and returns; attach streams, takes stdin and exits with the code', async (t) => {
  const h = await created([]);
  const started = Date.now();
  const r = await g(['run', '-d', '--id', 'bg-1', h, '--', 'sh', '-c', 'read x; echo "got $x"; exit 4']);
  t.is(r.code, 0);
  t.is(r.stdout, 'bg-1\n');
  t.true(Date.now() - started < 10_000);
  t.deepEqual((await g(['info', h, '--json']).then((i) => JSON.parse(i.stdout))).processIDs, ['bg-1']);
  const a = await g(['attach', h, 'bg-1'], { input: 'hello\n' });
  t.is(a.code, 4);
  t.is(a.stdout, 'got hello\n');
  const none = await g(['attach', h, 'no-such-proc']);
  t.is(none.code, 1);
  t.is(none.stderr, 'garden: unknown process: no-such-proc\n');
});

test('stop --kill stops the processes and leaves the container', async (t) => {
  const h = await created([]);
  t.is((await g(['run', '-d', '--id', 'sleeper', h, '--', 'sleep', '60'])).code, 0);
  const r = await g(['stop', h, '--kill']);
  t.is(r.code, 0);
  const info = await g(['info', h]);
  t.regex(info.stdout, /^state: +stopped$/m);
  t.regex(info.stdout, /^processes: +\(none\)$/m);
});

test('run -t on a terminal: raw mode (no echo, ^C is a byte), our size, resizes, and the terminal restored', async (t) => {
  const h = await created([]);
  let sttyAfter = '';
  const { code, screen } = await onTerminal(
    ['run', '-t', h, '--', 'sh', '-c', 'echo ready; IFS= read -r x; printf "%s" "$x" | od -An -tx1; read y; exit 5'],
    async ({ write, screen: now, resize }) => {
      await until(() => now().includes('ready'));
      write('a\x03b\n');
      await until(() => /61 03 62/.test(now()));
      resize(120, 40);
      await until(() => ttySizesOf(h).length > 0);
      write('\n');
    },
    { afterExit: (slave) => (sttyAfter = execFileSync('stty', ['-a'], { stdio: [slave, 'pipe', 'pipe'] }).toString()) },
  );
  t.is(code, 5);
  t.regex(screen, /61 03 62/); // ^C reached the process as a byte: no SIGINT in raw mode
  t.false(screen.includes('^C'), 'not echoed by our terminal');
  t.false(screen.includes('a\x03b'), 'not echoed by our terminal');
  const spec = specFor('echo ready; IFS')!;
  t.deepEqual(spec.tty, { windowSize: { columns: 100, rows: 30 } });
  t.true(spec.env?.some((e) => e.startsWith('TERM=')));
  t.deepEqual(ttySizesOf(h).at(-1), { windowSize: { columns: 120, rows: 40 } });
  // The terminal is cooked again afterwards.
  t.regex(sttyAfter, /(^|\s)icanon(\s|$)/);
  t.regex(sttyAfter, /(^|\s)echo(\s|$)/);
});

/** Window sizes the fake processes of container h were told about. */
function ttySizesOf(h: string) {
  const procs = [...(backend.containers_.get(h)?.processes.values() ?? [])] as FakeProcess[];
  return procs.flatMap((p) => p.ttySizes);
}

test('shell: /bin/sh on a tty sized like ours', async (t) => {
  const h = await created([]);
  const { code, screen } = await onTerminal(['shell', h, '-e', 'WHO=shell-user'], async ({ write, screen: now }) => {
    write('echo "answer $((6*7)) $WHO"\n');
    await until(() => now().includes('answer 42 shell-user'));
    write('exit 3\n');
  });
  t.is(code, 3);
  t.regex(screen, /answer 42 shell-user/);
  const spec = runSpecs.find((s) => s.path === '/bin/sh' && s.env?.includes('WHO=shell-user'))!;
  t.deepEqual(spec.args ?? [], []);
  t.deepEqual(spec.tty, { windowSize: { columns: 100, rows: 30 } });
});

// ── files and networking ─────────────────────────────────────────────────

test('stream-in and stream-out: a tar round trip through stdin/stdout and through -f', async (t) => {
  const h = await created([]);
  const archive = await makeTar({ 'hello.txt': 'hello, container\n', 'sub/x': 'x' });
  const up = await g(['stream-in', h, '--to', '/srv'], { input: archive });
  t.is(up.code, 0);
  t.is(up.stdout + up.stderr, '');
  const down = await g(['stream-out', h, '--from', '/srv']);
  t.is(down.code, 0);
  t.is(down.stderr, '');
  t.deepEqual(await readTar(down.out), { 'hello.txt': 'hello, container\n', 'sub/x': 'x' });

  const inFile = path.join(dir, 'in.tar');
  const outFile = path.join(dir, 'out.tar');
  writeFileSync(inFile, archive);
  t.is((await g(['stream-in', h, '/other', '-f', inFile])).code, 0);
  const toFile = await g(['stream-out', h, '/other', '-f', outFile]);
  t.is(toFile.code, 0);
  t.is(toFile.stdout, '');
  t.deepEqual(readFileSync(outFile), archive);

  const missing = await g(['stream-in', h, '--to', '/x', '-f', path.join(dir, 'nope.tar')]);
  t.is(missing.code, 1);
  t.is(missing.stderr, `garden: cannot read ${path.join(dir, 'nope.tar')}: ENOENT\n`);
  const absent = await g(['stream-out', h, '--from', '/absent']);
  t.is(absent.code, 1);
  t.is(absent.stderr, 'garden: stream-out: no such file: /absent\n');
  const broken = path.join(dir, 'broken.tar');
  backend.containers_.get(h)!.files.set('/data/broken', Buffer.alloc(100_000, 1));
  const cut = await g(['stream-out', h, '--from', '/data/broken', '-f', broken]);
  t.is(cut.code, 1);
  t.regex(cut.stderr, /^garden: stream-out of \/data\/broken broke off: .+\n$/);
  t.false(existsSync(broken), 'a partial file is removed');
});

test('stream-in shows a progress bar when stderr is a terminal, and none on a pipe', async (t) => {
  const h = await created([]);
  const big = path.join(dir, 'big.tar');
  writeFileSync(big, Buffer.alloc(3 * 1024 * 1024, 7));
  const { code, screen } = await onTerminal(['stream-in', h, '--to', '/big', '-f', big], async () => {}, { stderrOnly: true });
  t.is(code, 0);
  t.regex(screen, /stream-in \[#+\] 100% {2}3 MiB \/ 3 MiB/);
  t.is(backend.containers_.get(h)!.files.get('/big')?.length, 3 * 1024 * 1024);
  const piped = await g(['stream-in', h, '--to', '/big2', '-f', big]);
  t.is(piped.code, 0);
  t.is(piped.stderr, '');
});

test('net-in, net-out and metrics', async (t) => {
  const h = await created([]);
  const r = await g(['net-in', h, '--container-port', '8080']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^host port: +61\d\d\d\ncontainer port: 8080\n$/);
  const hostPort = Number(/host port: +(\d+)/.exec(r.stdout)![1]);
  t.deepEqual(JSON.parse((await g(['net-in', h, '-H', '7000', '-p', '80', '--json'])).stdout), { hostPort: 7000, containerPort: 80 });
  t.regex((await g(['info', h])).stdout, new RegExp(`^ports: +${hostPort}->8080, 7000->80$`, 'm'));

  const out = await g(['net-out', h, '--protocol', 'tcp', '--network', '10.0.0.0/24', '--port', '80-90', '--port', '443', '--log']);
  t.is(out.code, 0);
  t.deepEqual(backend.containers_.get(h)!.netOutRules.at(-1), {
    protocol: 1, networks: [{ start: '10.0.0.0', end: '10.0.0.255' }], ports: [{ start: 80, end: 90 }, { start: 443, end: 443 }], log: true,
  });
  const bad = await g(['net-out', h, '--port', '80']);
  t.is(bad.code, 2);
  t.is(bad.stderr, 'garden: net-out: --port needs --protocol tcp or udp\n');

  const m = await g(['metrics', h]);
  t.is(m.code, 0);
  t.regex(m.stdout, /^network: +rx 7 B, tx 8 B$/m);
  const mj = await g(['metrics', h, '--json']);
  t.regex(mj.stdout, /"hierarchicalMemswLimit": 18446744073709551615/);
  t.is(JSON.parse(mj.stdout).cpuEntitlement, 42);
});
