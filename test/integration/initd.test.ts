import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecutableNotFoundError, ProcessNotFoundError } from '../../src/api/errors.js';
import { InitdError } from '../../src/initd/errors.js';
import { closeFd, socketpair } from '../../src/initd/native.js';
import { encodeFrame } from '../../src/initd/protocol.js';
import { collect, initdBinary, startInitd, type RunningInitd } from '../support/initd.js';

let host: RunningInitd;
let jail: RunningInitd;

test.before(async () => {
  host = await startInitd();
  jail = await startInitd({ chroot: true });
});

test.after.always(async () => {
  await host?.stop();
  await jail?.stop();
});

async function run(env: RunningInitd, path: string, args: string[] = [], extra = {}) {
  const p = await env.client.spawn({ path, args, ...extra });
  p.stdin.end();
  const [out, err, code] = await Promise.all([collect(p.stdout), collect(p.stderr), p.wait()]);
  return { out: out.toString(), err: err.toString(), code };
}

test('init-d is a static executable', (t) => {
  t.regex(execFileSync('file', ['-L', initdBinary]).toString(), /statically linked/);
  t.throws(() => execFileSync('ldd', [initdBinary], { stdio: 'pipe' })); // "not a dynamic executable"
});

test('init-d runs as PID 1 of its namespace', async (t) => {
  t.is((await host.client.ping()).pid, 1);
  const { out } = await run(jail, 'sh', ['-c', 'echo $$; cat /proc/1/cmdline | tr "\\0" " "']);
  t.regex(out, /^\d+\n\/sbin\/init-d --socket/);
});

test('exit codes, including death by signal as 128+N', async (t) => {
  t.is((await run(host, '/bin/true')).code, 0);
  t.is((await run(host, 'sh', ['-c', 'exit 42'])).code, 42);
  t.is((await run(host, 'sh', ['-c', 'kill -9 $$'])).code, 137);
  t.is((await run(host, 'sh', ['-c', 'kill -TERM $$'])).code, 143);
});

test('stdout and stderr are kept apart and in order', async (t) => {
  const { out, err } = await run(host, 'sh', ['-c', 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done']);
  t.is(out, 'out1\nout2\nout3\nout4\nout5\n');
  t.is(err, 'err1\nerr2\nerr3\nerr4\nerr5\n');
});

test('stdin round trip, and closing stdin ends the reader', async (t) => {
  const p = await host.client.spawn({ path: 'sh', args: ['-c', 'tr a-z A-Z; echo done'] });
  const payload = 'hello init-d\n'.repeat(50_000);
  p.stdin.end(payload);
  const [out, code] = await Promise.all([collect(p.stdout), p.wait()]);
  t.is(code, 0);
  t.is(out.toString(), payload.toUpperCase() + 'done\n');
});

test('1 GiB through stdout arrives whole (checksum)', async (t) => {
  const size = 1 << 30;
  const line = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  const p = await host.client.spawn({ path: 'sh', args: ['-c', `yes '${line.slice(0, -1)}' | head -c ${size}`] });
  p.stdin.end();
  const got = createHash('sha256');
  let n = 0;
  for await (const chunk of p.stdout) {
    got.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  t.is(await p.wait(), 0);
  const want = createHash('sha256');
  const block = Buffer.from(line.repeat(Math.floor((1 << 20) / line.length)));
  let left = size;
  while (left > 0) {
    const piece = block.subarray(0, Math.min(left, block.length));
    want.update(piece);
    left -= piece.length;
  }
  // yes repeats whole lines, so the stream is the line pattern cut at `size`.
  t.is(n, size);
  const expected = createHash('sha256');
  const unit = Buffer.from(line);
  const whole = Math.floor(size / unit.length);
  const big = Buffer.from(line.repeat(10_000));
  let lines = whole;
  while (lines >= 10_000) expected.update(big), (lines -= 10_000);
  expected.update(Buffer.from(line.repeat(lines)));
  expected.update(unit.subarray(0, size - whole * unit.length));
  t.is(got.digest('hex'), expected.digest('hex'));
});

test('a tty: stty sees the size, and a resize', async (t) => {
  const p = await host.client.spawn({ path: 'sh', args: ['-c', 'stty size; read x; stty size'], tty: { cols: 123, rows: 45 } });
  t.true(p.tty);
  const chunks: string[] = [];
  p.stdout.on('data', (d) => chunks.push(d.toString()));
  for (let i = 0; i < 200 && !chunks.join('').includes('45 123'); i++) await sleep(10);
  await p.resize(99, 33);
  p.stdin.write('go\n');
  t.is(await p.wait(), 0);
  const out = chunks.join('');
  t.regex(out, /45 123\r\n/);
  t.regex(out, /33 99\r\n/);
  t.is(await collect(p.stderr).then((b) => b.length), 0);
});

test('users, groups and HOME come from the container /etc/passwd', async (t) => {
  const alice = await run(jail, 'sh', ['-c', 'id; echo $HOME $USER; pwd']);
  t.is(alice.code, 0);
  t.regex(alice.out, /^uid=0\(root\) gid=0\(root\)/);
  const a = await run(jail, 'sh', ['-c', 'id; echo $HOME $USER; pwd'], { user: 'alice' });
  const [id, env, cwd] = a.out.split('\n');
  t.regex(id, /^uid=1000\(alice\) gid=1000\(alice\) groups=/);
  t.deepEqual(id.replace(/.*groups=/, '').split(',').sort(), ['1000(alice)', '29(audio)', '50(staff)']);
  t.is(env, '/home/alice alice');
  t.is(cwd, '/home/alice');
  const numeric = await run(jail, 'id', ['-u'], { user: '1001:50' });
  t.is(numeric.out, '1001\n');
  t.is((await run(jail, 'id', ['-g'], { user: '1001:50' })).out, '50\n');
  await t.throwsAsync(jail.client.spawn({ path: 'id', user: 'mallory' }), { instanceOf: InitdError, message: /unknown user 'mallory'/ });
});

test('rlimits are applied', async (t) => {
  const { out } = await run(jail, 'sh', ['-c', 'ulimit -n; ulimit -H -n; ulimit -c'], { rlimits: { nofile: 321, core: 0 } });
  t.is(out, '321\n321\n0\n');
  const inf = await run(jail, 'sh', ['-c', 'ulimit -f'], { rlimits: { fsize: 18446744073709551615n } });
  t.is(inf.out, 'unlimited\n');
});

test('a missing executable, dir or user is a distinct error, not exit 127', async (t) => {
  await t.throwsAsync(host.client.spawn({ path: 'definitely-not-here' }), { instanceOf: ExecutableNotFoundError });
  await t.throwsAsync(host.client.spawn({ path: '/no/such/bin' }), { instanceOf: ExecutableNotFoundError });
  const dir = await t.throwsAsync(host.client.spawn({ path: 'true', dir: '/no/such/dir' }), { instanceOf: InitdError });
  t.is(dir?.code, 'dir_not_found');
  await t.throwsAsync(host.client.attach('nobody-has-this-id'), { instanceOf: ProcessNotFoundError });
  await t.throwsAsync(host.client.wait('nobody-has-this-id'), { instanceOf: ProcessNotFoundError });
});

test('process ids: chosen, generated, and a duplicate refused', async (t) => {
  const p = await host.client.spawn({ id: 'my-id', path: 'true' });
  t.is(p.id, 'my-id');
  await p.wait();
  const dup = await t.throwsAsync(host.client.spawn({ id: 'my-id', path: 'true' }), { instanceOf: InitdError });
  t.is(dup?.code, 'exists');
  const q = await host.client.spawn({ path: 'true' });
  t.regex(q.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const listed = await host.client.list();
  t.true(listed.some((e) => e.id === 'my-id' && !e.running && e.code === 0));
});

test('exit codes are kept for a later wait and attach', async (t) => {
  const p = await host.client.spawn({ id: 'kept', path: 'sh', args: ['-c', 'echo bye; exit 5'] });
  p.detach();
  t.is(await host.client.wait('kept'), 5);
  const again = await host.client.attach('kept');
  t.is(await again.wait(), 5);
});

test('signals reach the process', async (t) => {
  const p = await host.client.spawn({ path: 'sleep', args: ['100'] });
  await p.signal('SIGUSR1');
  t.is(await p.wait(), 128 + 10);
});

test('a client SIGKILLed mid-stream: re-attaching with its offsets gets exactly the rest', async (t) => {
  const total = 400_000;
  const expected = Array.from({ length: total }, (_, i) => `${i + 1}\n`).join('');
  // The first consumer is another process that records every byte it receives, then dies.
  const script = `
    import { InitdClient } from './src/initd/client.ts';
    import { writeSync, openSync } from 'node:fs';
    const fd = openSync(process.argv[2], 'w');
    const p = await new InitdClient(process.argv[1]).spawn({ id: 'resumable', path: 'seq', args: ['${total}'] });
    p.stdout.on('data', (d) => { writeSync(fd, d); if (!globalThis.said) { globalThis.said = 1; process.stdout.write('started\\n'); } });
    p.stdout.pause(); setInterval(() => p.stdout.read(4096), 1);
  `;
  const record = `${host.socketPath}.record`;
  const consumer = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script, host.socketPath, record], { cwd: (await import('../support/initd.js')).root, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => consumer.stdout!.once('data', () => resolve()));
  await sleep(50);
  consumer.kill('SIGKILL');
  await new Promise((r) => consumer.once('exit', r));
  const { readFileSync } = await import('node:fs');
  const seen = readFileSync(record);
  t.true(seen.length > 0 && seen.length < expected.length, `the consumer died mid-stream (${seen.length} bytes)`);
  const rest = await host.client.attach('resumable', { stdout: seen.length, stderr: 0 });
  const [tail, code] = await Promise.all([collect(rest.stdout), rest.wait()]);
  t.is(code, 0);
  t.is(seen.toString() + tail.toString(), expected);
});

test('without offsets an attach resumes at the oldest byte nobody was sent', async (t) => {
  const p = await host.client.spawn({ id: 'no-offsets', path: 'sh', args: ['-c', 'echo one; read x; echo two'] });
  const first = await new Promise<string>((r) => p.stdout.once('data', (d) => r(d.toString())));
  t.is(first, 'one\n');
  p.detach();
  await sleep(20);
  const q = await host.client.attach('no-offsets');
  q.stdin.write('x\n');
  const [out, code] = await Promise.all([collect(q.stdout), q.wait()]);
  t.is(code, 0);
  t.is(out.toString(), 'two\n');
});

test('output waits while nobody is attached: nothing is dropped', async (t) => {
  // 8 MiB is far more than init-d buffers: the writer must block, not lose bytes.
  const p = await host.client.spawn({ id: 'blocked-writer', path: 'sh', args: ['-c', 'head -c 8388608 /dev/zero | tr "\\0" x; echo end'] });
  p.detach();
  await sleep(300);
  const listed = await host.client.list();
  t.true(listed.find((e) => e.id === 'blocked-writer')!.running, 'the writer is blocked, not finished');
  const q = await host.client.attach('blocked-writer', { stdout: 0, stderr: 0 });
  const out = await collect(q.stdout);
  t.is(await q.wait(), 0);
  t.is(out.length, 8388608 + 4);
  t.is(out.subarray(-4).toString(), 'end\n');
});

/** Everything read from fd until EOF. */
function readAll(fd: number): Promise<Buffer> {
  return collect(new net.Socket({ fd, readable: true, writable: false }));
}

test('mute, then a sink: the stream goes on in the caller\'s socket from exactly where the relay stopped', async (t) => {
  const total = 300_000;
  const expected = Array.from({ length: total }, (_, i) => `${i + 1}\n`).join('');
  // Half before a line on stdin, half after: the process cannot finish before the sink is in place.
  const p = await host.client.spawn({ path: 'sh', args: ['-c', `seq ${total / 2}; read x; seq ${total / 2 + 1} ${total}; echo done >&2`] });
  const relayed: Buffer[] = [];
  const started = new Promise((resolve) => p.stdout.on('data', (d: Buffer) => resolve(relayed.push(d))));
  await started;
  const ended = new Promise((r) => p.stdout.once('end', r));
  const offset = await p.mute('stdout');
  t.is(typeof offset, 'number');
  await ended; // the relayed stdout ends at the mute
  t.is(Buffer.concat(relayed).length, offset);
  const [ours, theirs] = socketpair();
  const sink = await host.client.sink(p.id, 'stdout', theirs, offset!);
  closeFd(theirs); // init-d has its own copy
  p.stdin.end('go\n');
  const [rest, err, code, sinkCode] = await Promise.all([readAll(ours), collect(p.stderr), p.wait(), sink.done]);
  t.is(code, 0);
  t.is(sinkCode, 0);
  t.is(err.toString(), 'done\n', 'stderr still comes relayed');
  t.is(Buffer.concat(relayed).toString() + rest.toString(), expected);
});

test('a sink whose reader goes away holds nothing back; a sink without its fd is refused', async (t) => {
  const p = await host.client.spawn({ path: 'sh', args: ['-c', 'head -c 20000000 /dev/zero; echo finished >&2'] });
  p.stdout.resume(); // what was relayed before the mute must be read for the mute to come through
  const offset = await p.mute('stdout');
  const [ours, theirs] = socketpair();
  const sink = await host.client.sink(p.id, 'stdout', theirs, offset!);
  closeFd(theirs);
  closeFd(ours); // nobody will ever read
  const [err, code] = await Promise.all([collect(p.stderr), p.wait()]);
  t.is(code, 0);
  t.is(err.toString(), 'finished\n');
  t.is(await sink.done, 0);
  // The protocol's own checks, below the client.
  const raw = net.connect(host.socketPath);
  raw.write(encodeFrame({ op: 'attach', id: p.id, sink: 1 }));
  t.regex((await collect(raw)).toString(), /needs the fd/);
  const bad = net.connect(host.socketPath);
  bad.write(encodeFrame({ op: 'attach', id: p.id, sink: 3 }));
  t.regex((await collect(bad)).toString(), /must be 1 \(stdout\) or 2 \(stderr\)/);
});

test('a detached client never kills its process', async (t) => {
  const p = await host.client.spawn({ id: 'survivor', path: 'sh', args: ['-c', 'sleep 0.3; echo alive'] });
  p.detach();
  t.is(await host.client.wait('survivor'), 0);
});

test('100 concurrent spawns', async (t) => {
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => run(host, 'sh', ['-c', `echo ${i}; exit ${i % 7}`])));
  results.forEach((r, i) => {
    t.is(r.out, `${i}\n`);
    t.is(r.code, i % 7);
  });
});

function rawExchange(socketPath: string, bytes: Buffer): Promise<{ closed: boolean; data: Buffer }> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve({ closed: true, data: Buffer.concat(chunks) }));
    s.write(bytes);
    setTimeout(() => { s.destroy(); resolve({ closed: false, data: Buffer.concat(chunks) }); }, 2000);
  });
}

test('garbage, truncated and oversized frames close that connection only', async (t) => {
  const live = await host.client.spawn({ path: 'sh', args: ['-c', 'read x; echo still-here'] });
  const garbage = [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
    Buffer.from([0, 0, 0, 0]),
    Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]),
    Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from([0x92, 0x01])]), // an array, not a map
    Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from([0x81, 0xa2, 0x6f, 0x70, 0xdf])]), // truncated inside
    Buffer.concat([Buffer.from([0, 0, 0, 6]), Buffer.from([0x81, 0xa1, 0x78, 0xdd, 0xff, 0xff])]), // huge count
    encodeFrame({ op: 'spawn', path: 7 }),
    encodeFrame({ op: 'fly' }),
    encodeFrame({ op: 'spawn', path: 'true', env: ['NOEQUALS'] }),
  ];
  for (const bytes of garbage) {
    const r = await rawExchange(host.socketPath, bytes);
    t.true(r.closed, `closed after ${bytes.subarray(0, 12).toString('hex')}`);
  }
  // An error reply still comes, where a frame was at least a request.
  const reply = await rawExchange(host.socketPath, encodeFrame({ op: 'fly' }));
  t.regex(reply.data.toString('latin1'), /bad_request/);
  t.is((await host.client.ping()).pid, 1);
  live.stdin.write('go\n');
  t.is((await collect(live.stdout)).toString(), 'still-here\n');
  t.is(await live.wait(), 0);
});

test('a truncated frame leaves the connection waiting, and its close does no harm', async (t) => {
  const header = Buffer.from([0, 0, 0, 100]);
  const r = await new Promise<boolean>((resolve) => {
    const s = net.connect(host.socketPath);
    s.on('error', () => {});
    s.write(Buffer.concat([header, Buffer.from([0x81])]));
    setTimeout(() => { s.destroy(); resolve(true); }, 100);
  });
  t.true(r);
  t.is((await host.client.ping()).pid, 1);
});

test('a peer inside the PID namespace is refused', async (t) => {
  const probe = `
    const s = require('net').connect(process.argv[1]);
    s.on('connect', () => s.write(Buffer.from([0,0,0,9,0x81,0xa2,0x6f,0x70,0xa4,0x70,0x69,0x6e,0x67])));
    let got = '';
    s.on('data', (d) => got += d.toString('latin1'));
    s.on('close', () => { console.log(got.includes('version') ? 'served' : 'refused'); });
    s.on('error', (e) => console.log('refused ' + e.code));
  `;
  const { out, code } = await run(host, process.execPath, ['-e', probe, host.socketPath]);
  t.is(code, 0);
  t.regex(out, /^refused/);
});

test('zombies are reaped, orphans included', async (t) => {
  // The shell exits at once, orphaning its background children: init-d adopts and reaps them.
  await run(jail, 'sh', ['-c', 'for i in 1 2 3 4 5; do (sleep 0.1; exit 3) & done; exit 0']);
  await sleep(400);
  const { out } = await run(jail, 'sh', ['-c', 'cat /proc/[0-9]*/stat 2>/dev/null | awk \'{print $3}\'']);
  t.false(out.split('\n').includes('Z'), out);
});

test('stop terminates every process, and init-d keeps serving', async (t) => {
  const env = await startInitd();
  try {
    const a = await env.client.spawn({ path: 'sleep', args: ['100'] });
    const b = await env.client.spawn({ path: 'sh', args: ['-c', 'trap "" TERM; sleep 100'] });
    await sleep(50);
    const started = Date.now();
    await env.client.stop({ timeoutMs: 300 });
    t.is(await a.wait(), 143);
    t.is(await b.wait(), 137); // ignored TERM: killed after the timeout
    t.true(Date.now() - started >= 250);
    t.is((await env.client.ping()).pid, 1);
  } finally {
    await env.stop();
  }
});

test('SIGTERM to init-d stops its processes and exits promptly', async (t) => {
  const env = await startInitd();
  const p = await env.client.spawn({ path: 'sleep', args: ['100'] });
  const pid1 = Number(execFileSync('pgrep', ['-P', String(env.child.pid)]).toString().trim());
  const exited = new Promise<number | null>((r) => env.child.once('exit', (code) => r(code)));
  const started = Date.now();
  process.kill(pid1, 'SIGTERM');
  t.is(await p.wait(), 143);
  t.is(await exited, 0);
  t.true(Date.now() - started < 2000);
  await env.stop();
});

test('direct io: the process writes straight into the caller\'s fds', async (t) => {
  const { socketpair, closeFd } = await import('../../src/initd/native.js');
  const { openSync, closeSync } = await import('node:fs');
  const [mine, theirs] = socketpair();
  const devnull = openSync('/dev/null', 'r');
  const p = await host.client.spawnDirect({ path: 'sh', args: ['-c', 'echo direct; echo err >&2; exit 9'] }, [devnull, theirs, theirs]);
  closeFd(theirs); // the process has its own copy now: EOF comes when it exits
  closeSync(devnull);
  const out = await collect(new net.Socket({ fd: mine, readable: true, writable: false }));
  t.is(await p.wait(), 9);
  t.is(out.toString(), 'direct\nerr\n');
});

test('direct io with a tty hands back the pty master', async (t) => {
  const tty = await import('node:tty');
  const p = await host.client.spawnDirect({ path: 'sh', args: ['-c', 'stty size; read x; stty size'], tty: { cols: 77, rows: 11 } });
  t.is(typeof p.master, 'number');
  const stream = new tty.ReadStream(p.master!);
  let out = '';
  stream.on('data', (d) => (out += d.toString()));
  stream.on('error', () => {}); // EIO once the terminal side closes
  for (let i = 0; i < 200 && !out.includes('11 77'); i++) await sleep(10);
  await p.resize(88, 22);
  const { writeSync } = await import('node:fs');
  writeSync(p.master!, 'go\n');
  t.is(await p.wait(), 0);
  for (let i = 0; i < 200 && !out.includes('22 88'); i++) await sleep(10);
  stream.destroy();
  t.regex(out, /11 77\r\n/);
  t.regex(out, /22 88\r\n/);
});

test('init-d idles while a process has closed its stdin or stopped reading output', async (t) => {
  const env = await startInitd();
  try {
    const pid1 = Number(execFileSync('pgrep', ['-P', String(env.child.pid)]).toString().trim());
    const cpu = () => {
      const f = readFileSync(`/proc/${pid1}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks
    };
    // One closes its stdin while we hold it open; one fills its output buffer and exits while nobody reads.
    const a = await env.client.spawn({ path: 'sh', args: ['-c', 'exec 0<&-; sleep 1'] });
    const b = await env.client.spawn({ id: 'full', path: 'sh', args: ['-c', 'head -c 4000000 /dev/zero; sleep 1'] });
    b.detach();
    await sleep(200);
    const before = cpu();
    await sleep(700);
    t.true(cpu() - before <= 10, `init-d used ${cpu() - before} ticks in 0.7 s`);
    t.is(await a.wait(), 0);
  } finally {
    await env.stop();
  }
});
