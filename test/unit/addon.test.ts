// The native addon against real syscalls: fd passing, ptys, namespace spawn.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  closeFd,
  connectUnix,
  connectUnixAsync,
  getWinsize,
  keepHeap,
  isSystemError,
  nsSpawn,
  openpty,
  pipe,
  recvFds,
  sendFds,
  setNonBlocking,
  setPipeSize,
  setWinsize,
  socketpair,
  type SystemError,
} from '../../src/initd/native.js';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;
const rootSerial = isRoot ? test.serial : test.serial.skip;

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  return parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1]!, 8);
}

function isCloexec(fd: number): boolean {
  return (fdFlags(fd) & 0o2000000) !== 0;
}

/** Reads what is buffered on fd without waiting for more. */
function readAvailable(fd: number): string {
  setNonBlocking(fd, true);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = fs.readSync(fd, buf);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch (e) {
      if (isSystemError(e, 'EAGAIN')) break;
      throw e;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readAllSync(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = fs.readSync(fd, buf);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function recvExactly(fd: number, total: number, delayMs = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < total) {
    const { data } = await recvFds(fd, 64 * 1024, 0);
    if (data.length === 0) throw new Error(`EOF after ${got} bytes`);
    chunks.push(data);
    got += data.length;
    if (delayMs > 0) await sleep(delayMs);
  }
  return Buffer.concat(chunks);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// ---- fd passing ---------------------------------------------------------------

test('sendFds/recvFds pass a pipe fd that works on the other side', async (t) => {
  const [a, b] = socketpair();
  const [r, w] = pipe();
  try {
    await sendFds(a, Buffer.from('take this'), [r]);
    const got = await recvFds(b, 1024, 4);
    t.is(got.data.toString(), 'take this');
    t.is(got.fds.length, 1);
    const received = got.fds[0]!;
    t.not(received, r);
    t.true(isCloexec(received));
    fs.writeSync(w, 'through the received fd');
    const buf = Buffer.alloc(100);
    const n = fs.readSync(received, buf);
    t.is(buf.subarray(0, n).toString(), 'through the received fd');
    closeFd(received);
  } finally {
    for (const fd of [a, b, r, w]) closeFd(fd);
  }
});

test('sendFds passes several fds at once and data without fds', async (t) => {
  const [a, b] = socketpair();
  const pipes = [pipe(), pipe(), pipe()];
  try {
    await sendFds(a, Buffer.from('x'), pipes.map(([, w]) => w));
    const got = await recvFds(b, 10, 8);
    t.is(got.fds.length, 3);
    got.fds.forEach((fd, i) => {
      fs.writeSync(fd, `pipe ${i}`);
      closeFd(fd);
      const buf = Buffer.alloc(20);
      t.is(buf.subarray(0, fs.readSync(pipes[i]![0], buf)).toString(), `pipe ${i}`);
    });
    await sendFds(a, Buffer.from('plain'));
    const plain = await recvFds(b, 10, 8);
    t.is(plain.data.toString(), 'plain');
    t.deepEqual(plain.fds, []);
  } finally {
    for (const fd of [a, b, ...pipes.flat()]) closeFd(fd);
  }
});

test('sendFds writes 2 MiB to a slow reader without blocking the loop', async (t) => {
  const [a, b] = socketpair();
  try {
    const payload = randomBytes(2 * 1024 * 1024);
    let settled = false;
    const sending = sendFds(a, payload).then(() => {
      settled = true;
    });
    // 2 MiB does not fit in a socket buffer: the send must be pending, and
    // the loop must keep running (this timer fires) while it is.
    await sleep(20);
    t.false(settled);
    const received = await recvExactly(b, payload.length, 1);
    await sending;
    t.true(settled);
    t.is(received.length, payload.length);
    t.is(sha(received), sha(payload));
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

test('queued sends complete in order, fds ride with the first bytes', async (t) => {
  const [a, b] = socketpair();
  const [r, w] = pipe();
  try {
    const first = Buffer.alloc(1024 * 1024, 1);
    const second = Buffer.alloc(512 * 1024, 2);
    const order: number[] = [];
    const p1 = sendFds(a, first).then(() => order.push(1));
    const p2 = sendFds(a, second, [w]).then(() => order.push(2));
    closeFd(w); // allowed: a queued send holds its own dup
    let fds: number[] = [];
    const chunks: Buffer[] = [];
    let got = 0;
    while (got < first.length + second.length) {
      const res = await recvFds(b, 256 * 1024, 4);
      if (res.fds.length > 0) {
        // A stream recvmsg may glue earlier bytes in front, but stops right
        // after the bytes the fds were sent with.
        t.true(got <= first.length && first.length < got + res.data.length,
          'the fds arrive with the first byte of the second send');
        fds = res.fds;
      }
      chunks.push(res.data);
      got += res.data.length;
    }
    await Promise.all([p1, p2]);
    t.deepEqual(order, [1, 2]);
    t.is(sha(Buffer.concat(chunks)), sha(Buffer.concat([first, second])));
    t.is(fds.length, 1);
    fs.writeSync(fds[0]!, 'ok');
    closeFd(fds[0]!);
    const buf = Buffer.alloc(4);
    t.is(buf.subarray(0, fs.readSync(r, buf)).toString(), 'ok');
  } finally {
    closeFd(a);
    closeFd(b);
    closeFd(r);
  }
});

test('a pending recvFds and a waiting sendFds share one fd (full duplex)', async (t) => {
  const [a, b] = socketpair();
  try {
    const reply = recvFds(a, 100, 0); // waits for readability on a
    const payload = randomBytes(3 * 1024 * 1024);
    const sending = sendFds(a, payload); // waits for writability on a, too
    const received = await recvExactly(b, payload.length);
    await sending;
    t.is(sha(received), sha(payload));
    await sendFds(b, Buffer.from('done'));
    t.is((await reply).data.toString(), 'done');
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

test('recvFds resolves empty data at EOF', async (t) => {
  const [a, b] = socketpair();
  const pending = recvFds(b, 100, 4);
  await sleep(5);
  closeFd(a);
  const got = await pending;
  t.is(got.data.length, 0);
  t.deepEqual(got.fds, []);
  const again = await recvFds(b, 100, 4);
  t.is(again.data.length, 0);
  closeFd(b);
});

test('recvFds returns what arrived, at most maxBytes', async (t) => {
  const [a, b] = socketpair();
  await sendFds(a, Buffer.from('hello world'));
  t.is((await recvFds(b, 5, 0)).data.toString(), 'hello');
  t.is((await recvFds(b, 100, 0)).data.toString(), ' world');
  closeFd(a);
  closeFd(b);
});

test.serial('more fds than maxFds rejects with EMSGSIZE and leaks none', async (t) => {
  const [a, b] = socketpair();
  const [r, w] = pipe();
  const before = openFds();
  await sendFds(a, Buffer.from('two'), [r, w]);
  const err = await t.throwsAsync(recvFds(b, 10, 1));
  t.is((err as SystemError).code, 'EMSGSIZE');
  t.is((err as SystemError).syscall, 'recvmsg');
  t.is(openFds(), before);
  for (const fd of [a, b, r, w]) closeFd(fd);
});

test.serial('closeFd rejects pending operations with ECANCELED', async (t) => {
  const [a, b] = socketpair();
  const before = openFds();
  const pending = recvFds(a, 10, 0);
  const big = sendFds(a, Buffer.alloc(4 * 1024 * 1024));
  closeFd(a);
  const e1 = await t.throwsAsync(pending);
  const e2 = await t.throwsAsync(big);
  t.is((e1 as SystemError).code, 'ECANCELED');
  t.is((e2 as SystemError).code, 'ECANCELED');
  t.is(openFds(), before - 1);
  closeFd(b);
});

test('errors carry errno codes', async (t) => {
  const missing = join(tmpdir(), `garden-missing-${process.pid}.sock`);
  const e1 = t.throws(() => connectUnix(missing));
  t.is((e1 as SystemError).code, 'ENOENT');
  t.is((e1 as SystemError).syscall, 'connect');
  t.is((e1 as SystemError).path, missing);
  t.is((e1 as SystemError).errno, -2);
  t.regex(e1!.message, /^ENOENT: no such file or directory, connect /);
  t.true(isSystemError(e1, 'ENOENT'));
  await t.throwsAsync(connectUnixAsync(missing), { code: 'ENOENT' });

  const [a, b] = socketpair();
  closeFd(b);
  const e2 = await t.throwsAsync(sendFds(a, Buffer.from('x')));
  t.is((e2 as SystemError).code, 'EPIPE');
  t.is((e2 as SystemError).syscall, 'sendmsg');
  closeFd(a);
  const notOpen = 999_999; // (a's number may already be reused by a concurrent test)
  await t.throwsAsync(recvFds(notOpen, 10, 0), { code: 'EBADF' });
  t.throws(() => closeFd(notOpen), { code: 'EBADF' });
  const [r, w] = pipe();
  await t.throwsAsync(sendFds(w, Buffer.from('x')), { code: 'ENOTSOCK' });
  closeFd(r);
  closeFd(w);
  t.throws(() => recvFds(-1, 10, 0), { instanceOf: RangeError });
  t.throws(() => sendFds(0, 'x' as unknown as Buffer), { instanceOf: TypeError });
});

test('connectUnix to a stale socket file is ECONNREFUSED', (t) => {
  const path = join(tmpdir(), `garden-stale-${process.pid}.sock`);
  fs.rmSync(path, { force: true });
  // A listener killed with SIGKILL leaves its socket file behind.
  const r = spawnSync(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.is(r.signal, 'SIGKILL');
  try {
    t.throws(() => connectUnix(path), { code: 'ECONNREFUSED' });
  } finally {
    fs.rmSync(path, { force: true });
  }
});

test('connectUnix reaches a listening server, data and fds flow both ways', async (t) => {
  const path = join(tmpdir(), `garden-ok-${process.pid}.sock`);
  fs.rmSync(path, { force: true });
  const server = createServer();
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  server.listen(path);
  await once(server, 'listening');
  try {
    const fd = connectUnix(path);
    t.true(isCloexec(fd));
    t.not(fdFlags(fd) & 0o4000, 0, 'O_NONBLOCK');
    const [conn] = await accepted;
    await sendFds(fd, Buffer.from('ping'));
    const [chunk] = (await once(conn, 'data')) as [Buffer];
    t.is(chunk.toString(), 'ping');
    conn.write('pong');
    t.is((await recvFds(fd, 10, 0)).data.toString(), 'pong');
    conn.destroy();
    t.is((await recvFds(fd, 10, 0)).data.length, 0);
    closeFd(fd);
    const fd2 = await connectUnixAsync(path);
    t.true(fd2 >= 0);
    closeFd(fd2);
  } finally {
    server.close();
  }
});

test('setNonBlocking and setPipeSize', (t) => {
  const [r, w] = pipe();
  setNonBlocking(r, true);
  t.throws(() => fs.readSync(r, Buffer.alloc(1)), { code: 'EAGAIN' });
  setNonBlocking(r, false);
  t.is(fdFlags(r) & 0o4000, 0);
  t.is(setPipeSize(w, 1 << 20), 1 << 20);
  fs.writeSync(w, Buffer.alloc(512 * 1024)); // would block with the default 64 KiB
  closeFd(r);
  closeFd(w);
});

// ---- pty ----------------------------------------------------------------------

test('openpty, setWinsize/getWinsize round trip', (t) => {
  const pty = openpty(100, 30);
  try {
    t.regex(pty.slaveName, /^\/dev\/pts\/\d+$/);
    t.true(isCloexec(pty.master));
    t.true(isCloexec(pty.slave));
    t.deepEqual(getWinsize(pty.slave), { cols: 100, rows: 30 });
    setWinsize(pty.master, 132, 43);
    t.deepEqual(getWinsize(pty.master), { cols: 132, rows: 43 });
    t.deepEqual(getWinsize(pty.slave), { cols: 132, rows: 43 });
    t.throws(() => setWinsize(pty.master, 70000, 1), { instanceOf: RangeError });
    const [r, w] = pipe();
    const e = t.throws(() => getWinsize(r));
    t.is((e as SystemError).code, 'ENOTTY');
    t.is((e as SystemError).syscall, 'ioctl');
    closeFd(r);
    closeFd(w);
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

function ptyOutput(master: number) {
  const stream = new ReadStream(master);
  let text = '';
  stream.on('data', (d: Buffer) => {
    text += d.toString();
  });
  stream.on('error', () => {}); // EIO once every slave is closed
  return {
    stream,
    get text() {
      return text;
    },
    async waitFor(re: RegExp, ms = 10000): Promise<RegExpExecArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(text);
        if (m) return m;
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(text)}`);
        await sleep(10);
      }
    },
  };
}

test('a child on the pty sees its size, and SIGWINCH after setWinsize', async (t) => {
  const pty = openpty(80, 24);
  const out = ptyOutput(pty.master);
  const child = spawn('setsid', ['-w', '-c', 'sh', '-c',
    'stty size; trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.02; done'], {
    stdio: [pty.slave, pty.slave, pty.slave],
  });
  const exited = once(child, 'exit');
  try {
    await out.waitFor(/ready/);
    t.regex(out.text, /^24 80\r?\n/);
    setWinsize(pty.master, 120, 40);
    await out.waitFor(/40 120/);
    const [code] = (await exited) as [number];
    t.is(code, 0);
  } finally {
    child.kill('SIGKILL');
    closeFd(pty.slave);
    out.stream.destroy(); // closes the master
  }
});

// ---- nsSpawn ------------------------------------------------------------------

interface Target {
  child: ChildProcess;
  /** pid of the process inside the namespaces (pid 1 of its PID ns). */
  pid: number;
}

// `unshare --fork` runs the command as its child: find it and wait for it to
// reach `comm`.
async function startTarget(args: string[], comm: string): Promise<Target> {
  const child = spawn('unshare', args, { stdio: 'ignore' });
  const end = Date.now() + 10000;
  for (;;) {
    try {
      const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      if (kids) {
        const pid = Number(kids.split(/\s+/)[0]);
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return { child, pid };
      }
    } catch {
      // not there yet
    }
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error('target did not start');
    }
    await sleep(5);
  }
}

async function stopTarget(target: Target | undefined): Promise<void> {
  if (!target) return;
  try {
    process.kill(target.pid, 'SIGKILL');
  } catch {
    // gone
  }
  target.child.kill('SIGKILL');
  if (target.child.exitCode === null && target.child.signalCode === null) await once(target.child, 'exit');
}

const devNull = fs.openSync('/dev/null', 'r');
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs a command with nsSpawn, returns its exit code and stdout+stderr. */
async function run(pid: number, args: string[], extra: Partial<Parameters<typeof nsSpawn>[0]> = {}) {
  const [r, w] = pipe();
  try {
    const spawned = nsSpawn({ pid, path: args[0]!, args, env: [PATH], stdio: [devNull, w, w], ...extra });
    closeFd(w);
    const code = await spawned.wait;
    return { pid: spawned.pid, code, out: readAllSync(r) };
  } catch (e) {
    try {
      closeFd(w);
    } catch {
      // already closed
    }
    throw e;
  } finally {
    closeFd(r);
  }
}

let uts: Target | undefined;
let userns: Target | undefined;

test.before(async () => {
  if (!isRoot) return;
  uts = await startTarget(['--pid', '--fork', '--mount-proc', '--uts', '--ipc', 'sh', '-c', 'hostname inner; exec sleep 60'], 'sleep');
  userns = await startTarget(['--user', '--map-root-user', '--pid', '--fork', '--mount-proc', 'sleep', '60'], 'sleep');
});

test.after.always(async () => {
  await stopTarget(uts);
  await stopTarget(userns);
});

rootTest('nsSpawn runs inside the UTS, PID and mount namespaces', async (t) => {
  const host = await run(uts!.pid, ['hostname']);
  t.is(host.code, 0);
  t.is(host.out.trim(), 'inner');

  // Keep it running (it waits on stdin) while we look at it from outside.
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const spawned = nsSpawn({
    pid: uts!.pid,
    path: '/bin/sh',
    args: ['/bin/sh', '-c', 'echo $$; cat /proc/1/comm; readlink /proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/mnt; read x'],
    env: [PATH],
    stdio: [inR, outW, outW],
  });
  closeFd(inR);
  closeFd(outW);
  try {
    const nspid = /^NSpid:\s+(\d+)\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${spawned.pid}/status`, 'utf8'));
    t.truthy(nspid, 'the process has a pid in a nested PID namespace');
    t.is(Number(nspid![1]), spawned.pid);
    t.is(fs.readlinkSync(`/proc/${spawned.pid}/ns/pid`), fs.readlinkSync(`/proc/${uts!.pid}/ns/pid`));
    fs.writeSync(inW, 'go\n');
    t.is(await spawned.wait, 0);
    const [pidInside, comm1, utsNs, ipcNs, mntNs] = readAllSync(outR).trim().split('\n');
    t.is(pidInside, nspid![2], '$$ is the pid inside the namespace');
    t.is(comm1, 'sleep', "pid 1 in its /proc is the target's sleep");
    t.is(utsNs, fs.readlinkSync(`/proc/${uts!.pid}/ns/uts`));
    t.is(ipcNs, fs.readlinkSync(`/proc/${uts!.pid}/ns/ipc`));
    t.is(mntNs, fs.readlinkSync(`/proc/${uts!.pid}/ns/mnt`));
    t.not(utsNs, fs.readlinkSync('/proc/self/ns/uts'));
  } finally {
    closeFd(inW);
    closeFd(outR);
  }
});

rootTest('nsSpawn enters a user namespace', async (t) => {
  const res = await run(userns!.pid, ['cat', '/proc/self/uid_map']);
  t.is(res.code, 0);
  t.deepEqual(res.out.trim().split(/\s+/), ['0', '0', '1']);
  t.not(fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/)[2], '1');
});

rootTest('nsSpawn propagates exit codes and signals', async (t) => {
  t.is((await run(uts!.pid, ['sh', '-c', 'exit 7'])).code, 7);
  t.is((await run(uts!.pid, ['sh', '-c', 'kill -9 $$'])).code, 137);
  t.is((await run(uts!.pid, ['sh', '-c', 'kill -TERM $$'])).code, 143);
  t.is((await run(uts!.pid, ['true'])).code, 0);
});

rootTest('nsSpawn reports setup and exec failures with errno codes', async (t) => {
  const e1 = await t.throwsAsync(run(uts!.pid, ['/no/such/program']));
  t.is((e1 as SystemError).code, 'ENOENT');
  t.is((e1 as SystemError).syscall, 'execve');
  t.is((e1 as SystemError).path, '/no/such/program');
  await t.throwsAsync(run(uts!.pid, ['no-such-program-anywhere']), { code: 'ENOENT' });
  t.is(fs.statSync('/etc/passwd').mode & 0o111, 0);
  await t.throwsAsync(run(uts!.pid, ['/etc/passwd']), { code: 'EACCES' });
  const e2 = await t.throwsAsync(run(uts!.pid, ['true'], { cwd: '/no/such/dir' }));
  t.is((e2 as SystemError).code, 'ENOENT');
  t.is((e2 as SystemError).syscall, 'chdir');
  await t.throwsAsync(run(2147483647, ['true']), { code: 'ESRCH' });
  const [r, w] = pipe();
  const e3 = await t.throwsAsync(run(uts!.pid, ['true'], { tty: true, stdio: [r, w, w] }));
  t.is((e3 as SystemError).code, 'ENOTTY');
  t.is((e3 as SystemError).syscall, 'ioctl');
  closeFd(r);
  closeFd(w);
});

rootTest('nsSpawn searches PATH from env, sets argv, env, cwd and credentials', async (t) => {
  const res = await run(uts!.pid, ['printenv-args', 'one', 'two'], {
    path: 'sh',
    args: ['sh', '-c', 'echo "$0 $1 $FOO $(pwd) $(id -u) $(id -g) $(id -G)"', 'zero', 'one'],
    env: ['PATH=/nonexistent:/usr/bin:/bin', 'FOO=bar'],
    cwd: '/tmp',
    uid: 1234,
    gid: 2345,
    groups: [2345, 7],
  });
  t.is(res.code, 0, res.out);
  t.is(res.out.trim(), 'zero one bar /tmp 1234 2345 2345 7');
  const root = await run(uts!.pid, ['sh', '-c', 'id -u; id -G'], { uid: 0, gid: 0 });
  t.is(root.out.trim(), '0\n0');
});

rootTest('nsSpawn resets signal dispositions and mask (node ignores SIGPIPE)', async (t) => {
  t.not(/^SigIgn:\s+([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1], '0000000000000000');
  const res = await run(uts!.pid, ['grep', '-E', '^Sig(Blk|Ign):', '/proc/self/status']);
  t.is(res.code, 0);
  t.deepEqual(res.out.trim().split('\n').map((l) => l.split(/\s+/)[1]), ['0000000000000000', '0000000000000000']);
});

rootTest('nsSpawn with a tty: controlling terminal, session, size', async (t) => {
  const pty = openpty(91, 17);
  try {
    const spawned = nsSpawn({
      pid: uts!.pid,
      path: 'sh',
      args: ['sh', '-c', 'stty size; read -r pid comm state ppid pgrp session tty rest < /proc/self/stat; echo "$pid $session $tty"'],
      env: [PATH],
      stdio: [pty.slave, pty.slave, pty.slave],
      tty: true,
    });
    t.is(await spawned.wait, 0);
    const text = readAvailable(pty.master);
    const lines = text.trim().split(/\r?\n/);
    t.is(lines[0], '17 91');
    const [pid, session, ttyNr] = lines[1]!.split(' ').map(Number);
    t.is(pid, session, 'the process leads its own session');
    t.not(ttyNr, 0, 'and has a controlling terminal');
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

rootSerial('nsSpawn keeps none of our fds open in the spawned process or its helper', async (t) => {
  const before = openFds();
  const [r, w] = pipe();
  const [outR, outW] = pipe();
  const spawned = nsSpawn({
    pid: uts!.pid,
    path: 'sh',
    args: ['sh', '-c', 'ls /proc/self/fd; sleep 0.5'],
    env: [PATH],
    stdio: [devNull, outW, outW],
  });
  closeFd(outW);
  // While it still runs, closing our write end must give EOF: no copy lives
  // in the helper or the process.
  closeFd(w);
  const start = Date.now();
  t.is(fs.readSync(r, Buffer.alloc(1)), 0);
  t.true(Date.now() - start < 400);
  t.is(await spawned.wait, 0);
  const fds = readAllSync(outR).trim().split(/\s+/).map(Number).sort();
  t.deepEqual(fds.filter((fd) => fd > 2).length, 1, `only ls's own directory fd: ${fds}`);
  closeFd(r);
  closeFd(outR);
  // Many spawns leak no fd here either.
  for (let i = 0; i < 20; i++) t.is((await run(uts!.pid, ['true'])).code, 0);
  await t.throwsAsync(run(uts!.pid, ['/nope']), { code: 'ENOENT' });
  t.is(openFds(), before);
});

rootTest('nsSpawn joins the given cgroups', async (t) => {
  const dir = `/sys/fs/cgroup/pids/garden-addon-test-${process.pid}`;
  try {
    fs.mkdirSync(dir);
  } catch {
    t.pass('no writable cgroup v1 pids hierarchy here');
    return;
  }
  try {
    const procs = fs.openSync(join(dir, 'cgroup.procs'), 'w');
    try {
      const res = await run(uts!.pid, ['cat', '/proc/self/cgroup'], { cgroupFds: [procs] });
      t.regex(res.out, new RegExp(`pids:/garden-addon-test-${process.pid}$`, 'm'));
    } finally {
      fs.closeSync(procs);
    }
  } finally {
    fs.rmdirSync(dir);
  }
});

test('keepHeap applies on glibc once per process, and NODE_GARDEN_KEEP_HEAP=0 leaves malloc alone', async (t) => {
  t.true(keepHeap());
  t.true(keepHeap(), 'a second call answers the same');
  const probe = `import('${join(process.cwd(), 'src/initd/native.ts').replace(/'/g, "\\'")}').then((m) => console.log(m.keepHeap()))`;
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import=tsx', '-e', probe], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout.trim();
  t.is(run({ NODE_GARDEN_KEEP_HEAP: '0' }), 'false');
  t.is(run({}), 'true');
});
