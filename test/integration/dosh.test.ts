import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeFd, openpty, setNonBlocking, setWinsize } from '../../src/initd/native.js';
import { initdBinary, root } from '../support/initd.js';

// Every test runs against both CLIs: the Node one, and the native fast path
// (NODE_GARDEN_DOSH runs the suite against another build, e.g. with sanitizers).
interface Cli {
  name: string;
  file: string;
  args: string[];
}
const nodeCli: Cli = { name: 'node', file: process.execPath, args: [path.join(root, 'bin/dosh.js')] };
const nativeCli: Cli = { name: 'native', file: process.env.NODE_GARDEN_DOSH ?? path.join(root, 'build/Release/dosh'), args: [] };
const clis = [nodeCli, nativeCli];
let depot: string;
let initd: ChildProcess;

test.before(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root }); // bin/ runs the built CLI
  depot = mkdtempSync(path.join(tmpdir(), 'dosh-depot-'));
  const dir = path.join(depot, 'containers', 'box', 'run');
  mkdirSync(dir, { recursive: true });
  initd = spawn('unshare', ['--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', initdBinary, '--socket', path.join(dir, 'initd.sock')], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    if (run(nodeCli, ['--depot', depot, '-c', 'box', 'true']).status === 0) return;
    await sleep(10);
  }
  throw new Error('init-d did not come up');
});

test.after.always(() => {
  initd?.kill('SIGKILL');
  if (depot) rmSync(depot, { recursive: true, force: true });
});

function run(cli: Cli, args: string[], opts: { cwd?: string; input?: string } = {}) {
  try {
    const stdout = execFileSync(cli.file, [...cli.args, ...args], { cwd: opts.cwd, input: opts.input ?? '', stdio: 'pipe' });
    return { status: 0, stdout: stdout.toString(), stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: Buffer; stderr: Buffer };
    return { status: e.status, stdout: e.stdout.toString(), stderr: e.stderr.toString() };
  }
}

/** Runs dosh on a fresh pty, as a person at a terminal would. */
async function onTerminal(cli: Cli, args: string[], script: (write: (s: string) => unknown, screen: () => string, resize: (c: number, r: number) => void) => Promise<void>) {
  const pty = openpty(100, 30);
  const child = spawn(cli.file, [...cli.args, ...args], { stdio: [pty.slave, pty.slave, pty.slave], detached: true });
  closeFd(pty.slave);
  // Plain blocking reads: libuv's tty reader drops the last bytes when the pty closes.
  setNonBlocking(pty.master, false);
  const reader = createReadStream('', { fd: pty.master, autoClose: false });
  let screen = '';
  reader.on('data', (d) => (screen += d.toString()));
  reader.on('error', () => {});
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await script(
    (s) => writeSync(pty.master, s),
    () => screen,
    (c, r) => {
      setWinsize(pty.master, c, r);
      process.kill(child.pid!, 'SIGWINCH');
    },
  );
  const code = await exited;
  // Read what dosh wrote before it left: EIO ends the pty once it is closed everywhere.
  const ended = await new Promise<boolean>((resolve) => {
    reader.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  reader.destroy();
  if (ended) closeFd(pty.master); // else a read may still be pending on it: leave it
  return { code, screen };
}

async function until(what: () => boolean) {
  for (let i = 0; i < 500 && !what(); i++) await sleep(10);
}

for (const cli of clis) {
  test(`${cli.name}: runs a command in the container and exits with its code`, (t) => {
    const r = run(cli, ['--depot', depot, '-c', 'box', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    t.is(r.status, 7);
    t.is(r.stdout, 'out\n');
    t.is(r.stderr, 'err\n');
  });

  test(`${cli.name}: stdin is the caller's own, passed straight through`, (t) => {
    const r = run(cli, ['--depot', depot, '-c', 'box', '--', 'sh', '-c', 'tr a-z A-Z'], { input: 'piped in\n' });
    t.is(r.status, 0);
    t.is(r.stdout, 'PIPED IN\n');
  });

  test(`${cli.name}: a signal death is 128+N`, (t) => {
    t.is(run(cli, ['--depot', depot, '-c', 'box', '--', 'sh', '-c', 'kill -9 $$']).status, 137);
  });

  test(`${cli.name}: env, dir and the depot from GARDEN_DEPOT`, (t) => {
    const out = execFileSync(cli.file, [...cli.args, '-c', 'box', '-e', 'GREETING=hej', '-d', '/tmp', '--', 'sh', '-c', 'echo $GREETING; pwd'], {
      env: { ...process.env, GARDEN_DEPOT: depot },
    }).toString();
    t.is(out, 'hej\n/tmp\n');
  });

  test(`${cli.name}: picks the container from the current directory`, (t) => {
    const r = run(cli, ['sh', '-c', 'echo $$'], { cwd: path.join(depot, 'containers', 'box') });
    t.is(r.status, 0);
    t.regex(r.stdout, /^\d+\n$/);
    t.not(r.stdout, `${process.pid}\n`);
  });

  test(`${cli.name}: outside any container dir: a clear error`, (t) => {
    const r = run(cli, ['true'], { cwd: tmpdir() });
    t.is(r.status, 1);
    t.regex(r.stderr, /^dosh: which container\? pass -c HANDLE/);
    const unknown = run(cli, ['--depot', depot, '-c', 'nope', 'true']);
    t.is(unknown.status, 1);
    t.regex(unknown.stderr, /^dosh: no container 'nope'/);
    const bad = run(cli, ['--frobnicate']);
    t.is(bad.status, 1);
    t.regex(bad.stderr, /^dosh: Unknown option '--frobnicate'/);
  });

  test(`${cli.name}: --help`, (t) => {
    const r = run(cli, ['--help']);
    t.is(r.status, 0);
    t.regex(r.stdout, /^usage: dosh /);
  });

  test(`${cli.name}: a tty session: stty size follows a resize`, async (t) => {
    const { code, screen } = await onTerminal(cli, ['--depot', depot, '-c', 'box', '-t', '--', 'sh', '-c', 'stty size; read x; stty size; exit 4'], async (write, screenNow, resize) => {
      await until(() => screenNow().includes('30 100'));
      resize(120, 40);
      await sleep(100);
      write('\n');
      await until(() => screenNow().includes('40 120'));
    });
    t.is(code, 4);
    t.regex(screen, /30 100/);
    t.regex(screen, /40 120/);
  });

  test(`${cli.name}: a tty session delivers all of its output before exiting`, async (t) => {
    const { code, screen } = await onTerminal(cli, ['--depot', depot, '-c', 'box', '-t', '--', 'seq', '1', '30000'], async () => {});
    t.is(code, 0);
    const lines = screen.split(/\r*\n/).filter((l) => /^\d+$/.test(l));
    t.is(lines.length, 30000);
    t.is(lines.at(-1), '30000');
  });

  test(`${cli.name}: --pid enters the namespaces of a process that has no init-d`, async (t) => {
    const target = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--uts', 'sh', '-c', 'hostname inner-host; exec sleep 60'], { stdio: 'ignore' });
    try {
      await sleep(200);
      const inner = Number(execFileSync('pgrep', ['-P', String(target.pid)]).toString().trim());
      const r = run(cli, ['--pid', String(inner), '--', 'sh', '-c', 'hostname; echo $$; exit 3']);
      t.is(r.status, 3);
      const [host, pid] = r.stdout.trim().split('\n');
      t.is(host, 'inner-host');
      t.true(Number(pid) < 100, `a pid of the inner namespace: ${pid}`);
    } finally {
      target.kill('SIGKILL');
    }
  });
}

test('both CLIs print the same help', (t) => {
  const node = run(nodeCli, ['--help']);
  const native = run(nativeCli, ['--help']);
  t.is(native.status, 0);
  t.is(native.stdout, node.stdout);
});

test('bin/dosh runs a command (the native build when there is one)', (t) => {
  const launcher: Cli = { name: 'launcher', file: path.join(root, 'bin/dosh'), args: [] };
  const r = run(launcher, ['--depot', depot, '-c', 'box', '--', 'sh', '-c', 'echo ok; exit 5']);
  t.is(r.status, 5);
  t.is(r.stdout, 'ok\n');
});
