// One suite of Garden behaviour, run against every backend, embedded and
// through GardenClient -> GardenServer -> backend: the same assertions on
// every transport. Each *.test.ts beside this file supplies a Garden.

import type { TestFn } from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tar from 'tar-stream';
import { ContainerNotFoundError, ExecutableNotFoundError, ProcessNotFoundError } from '../../src/api/errors.js';
import type { Container, Garden } from '../../src/api/garden.js';

export interface Subject {
  garden: Garden;
  /** The rootfs every container uses: the busybox test image. */
  image: string;
}

function sink() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

async function tarOf(files: Record<string, string>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, body);
  pack.finalize();
  return pack;
}

async function untar(stream: Readable): Promise<Record<string, string>> {
  const extract = tar.extract();
  const out: Record<string, string> = {};
  extract.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.on('end', () => {
      if (header.type === 'file') out[header.name] = Buffer.concat(chunks).toString();
      next();
    });
  });
  stream.pipe(extract);
  await new Promise((resolve, reject) => extract.on('finish', resolve).on('error', reject));
  return out;
}

/** Without the keys a backend reserves for itself, as Garden's own `garden.*` network properties. */
function userProperties(props: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(props).filter(([k]) => !k.startsWith('garden.') && !k.startsWith('node-garden.')));
}

/**
 * Registers the suite's tests. Call the returned cleanup from the file's own
 * after.always hook, before the backend closes, with a Garden that can
 * still destroy (the embedded backend): every container the suite made goes.
 */
export function conformance(test: TestFn<unknown>, label: string, subject: () => Subject): { cleanup: (garden: Garden) => Promise<void> } {
  const created: string[] = [];
  const handle = (what: string) => {
    const h = `conf-${what}-${randomUUID().slice(0, 8)}`;
    created.push(h);
    return h;
  };
  const create = (what: string, extra = {}) => subject().garden.create({ handle: handle(what), image: { uri: subject().image }, ...extra });

  async function run(c: Container, path: string, args: string[] = [], extra = {}) {
    const out = sink();
    const err = sink();
    const p = await c.run({ path, args, ...extra }, { stdout: out.stream, stderr: err.stream });
    const code = await p.wait();
    return { code, out: out.text(), err: err.text(), id: p.id };
  }


  test(`${label}: ping and capacity`, async (t) => {
    await subject().garden.ping();
    const cap = await subject().garden.capacity();
    t.true(Number(cap.memoryInBytes) > 0);
    t.true(Number(cap.maxContainers) > 0);
  });

  test(`${label}: create, lookup, list by property, destroy`, async (t) => {
    const g = subject().garden;
    const c = await create('life', { properties: { team: 'conformance', tier: 'a' } });
    t.is((await g.lookup(c.handle)).handle, c.handle);
    const listed = (await g.containers({ team: 'conformance', tier: 'a' })).map((x) => x.handle);
    t.true(listed.includes(c.handle));
    t.false((await g.containers({ team: 'someone-else' })).map((x) => x.handle).includes(c.handle));
    await g.destroy(c.handle);
    await t.throwsAsync(g.lookup(c.handle), { instanceOf: ContainerNotFoundError });
    await t.throwsAsync(g.destroy(c.handle), { instanceOf: ContainerNotFoundError });
  });

  test(`${label}: a duplicate handle is refused`, async (t) => {
    const c = await create('dup');
    await t.throwsAsync(subject().garden.create({ handle: c.handle, image: { uri: subject().image } }), { message: /already exists/ });
  });

  test(`${label}: a generated handle when none is given`, async (t) => {
    const c = await subject().garden.create({ image: { uri: subject().image } });
    created.push(c.handle);
    t.true(c.handle.length > 0);
    t.is((await subject().garden.lookup(c.handle)).handle, c.handle);
  });

  test(`${label}: run: output, exit codes, env and user`, async (t) => {
    const c = await create('run', { env: ['FROM_CONTAINER=yes', 'SHADOWED=container'] });
    const r = await run(c, 'sh', ['-c', 'echo $FROM_CONTAINER $SHADOWED; echo oops >&2; exit 3'], { env: ['SHADOWED=process'] });
    t.is(r.code, 3);
    t.is(r.out, 'yes process\n');
    t.is(r.err, 'oops\n');
    const who = await run(c, 'sh', ['-c', 'id -un; pwd'], { user: 'alice' });
    t.is(who.out, 'alice\n/home/alice\n');
    const killed = await run(c, 'sh', ['-c', 'kill -9 $$']);
    t.is(killed.code, 137);
  });

  test(`${label}: run: stdin reaches the process`, async (t) => {
    const c = await create('stdin');
    const out = sink();
    const p = await c.run({ path: 'sh', args: ['-c', 'tr a-z A-Z'] }, { stdin: Readable.from(['hello ', 'garden\n']), stdout: out.stream });
    t.is(await p.wait(), 0);
    t.is(out.text(), 'HELLO GARDEN\n');
  });

  test(`${label}: run: megabytes on stdout and stderr at once arrive exact and in order, into a slow writer`, async (t) => {
    const c = await create('bulk');
    const seq = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');
    const chunks: Record<'out' | 'err', Buffer[]> = { out: [], err: [] };
    let writes = 0;
    // Every 50th write completes late: backpressure has to reach the process.
    const slow = (into: Buffer[]) => new Writable({
      write(chunk: Buffer, _enc, cb) {
        into.push(chunk);
        if (++writes % 50 === 0) setTimeout(cb, 5);
        else cb();
      },
    });
    const p = await c.run(
      { path: 'sh', args: ['-c', 'seq 1 1500000 & seq 1 400000 >&2; wait'] },
      { stdout: slow(chunks.out), stderr: slow(chunks.err) },
    );
    t.is(await p.wait(), 0);
    // Compared by length and digest: a diff of megabytes would drown the report.
    const digest = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    for (const [got, want] of [[Buffer.concat(chunks.out), seq(1, 1500000)], [Buffer.concat(chunks.err), seq(1, 400000)]] as const) {
      t.is(got.length, want.length);
      t.is(digest(got), digest(want));
    }
  });

  test(`${label}: run: a writer that fails mid-stream stalls nobody: the process finishes with its code`, async (t) => {
    const c = await create('failing-writer');
    let got = 0;
    const failing = new Writable({
      write(chunk: Buffer, _enc, cb) {
        got += chunk.length;
        cb(got > 1 << 20 ? new Error('disk full') : null);
      },
    });
    // 30 MB is far more than any buffer on the way: the writer would block for good if the rest were held.
    const p = await c.run({ path: 'sh', args: ['-c', 'head -c 30000000 /dev/zero; exit 7'] }, { stdout: failing });
    t.is(await p.wait(), 7);
    t.true(failing.destroyed);
  });

  test(`${label}: run: a missing executable is ExecutableNotFoundError`, async (t) => {
    const c = await create('noexec');
    await t.throwsAsync(c.run({ path: 'no-such-binary' }, {}), { instanceOf: ExecutableNotFoundError });
  });

  test(`${label}: attach to a running process by id, and to an unknown one`, async (t) => {
    const c = await create('attach');
    const first = sink();
    const p = await c.run({ id: 'attach-me', path: 'sh', args: ['-c', 'echo begin; read line; echo got $line; exit 4'] }, { stdout: first.stream, stdin: new PassThrough() });
    t.is(p.id, 'attach-me');
    for (let i = 0; i < 200 && !first.text().includes('begin'); i++) await sleep(10);
    const second = sink();
    const stdin = new PassThrough();
    const q = await c.attach('attach-me', { stdout: second.stream, stdin });
    stdin.end('x\n');
    t.is(await q.wait(), 4);
    t.regex(second.text(), /got x\n$/);
    t.is(await p.wait(), 4);
    await t.throwsAsync(c.attach('never-ran', {}), { instanceOf: ProcessNotFoundError });
  });

  test(`${label}: signals: terminate and kill`, async (t) => {
    const c = await create('signal');
    const p = await c.run({ path: 'sleep', args: ['100'] }, {});
    await p.signal('terminate');
    t.is(await p.wait(), 143);
    const q = await c.run({ path: 'sh', args: ['-c', 'trap "" TERM; sleep 100'] }, {});
    await sleep(100);
    await q.signal('kill');
    t.is(await q.wait(), 137);
  });

  test(`${label}: tty: a terminal of the asked size, and setTTY resizes it`, async (t) => {
    const c = await create('tty');
    const out = sink();
    const stdin = new PassThrough();
    const p = await c.run({ path: 'sh', args: ['-c', 'stty size; read x; stty size'], tty: { windowSize: { columns: 91, rows: 27 } } }, { stdout: out.stream, stdin });
    for (let i = 0; i < 300 && !out.text().includes('27 91'); i++) await sleep(10);
    await p.setTTY({ windowSize: { columns: 101, rows: 37 } });
    stdin.write('go\n');
    t.is(await p.wait(), 0);
    t.regex(out.text(), /27 91\r?\n/);
    t.regex(out.text(), /37 101\r?\n/);
  });

  test(`${label}: properties`, async (t) => {
    const c = await create('props', { properties: { a: '1' } });
    await c.setProperty('b', 'two');
    t.is(await c.property('b'), 'two');
    t.deepEqual(userProperties(await c.properties()), { a: '1', b: 'two' });
    await c.removeProperty('a');
    t.deepEqual(userProperties(await c.properties()), { b: 'two' });
    await t.throwsAsync(c.property('a'));
  });

  test(`${label}: info shows state, processes and properties`, async (t) => {
    const c = await create('info', { properties: { k: 'v' } });
    const p = await c.run({ id: 'info-sleeper', path: 'sleep', args: ['100'] }, {});
    const info = await c.info();
    t.is(info.state, 'active');
    t.true(info.processIDs.includes('info-sleeper'));
    t.is(info.properties.k, 'v');
    t.true(info.containerPath.length > 0);
    await p.signal('kill');
    await p.wait();
    const bulk = await subject().garden.bulkInfo([c.handle, 'conf-missing-handle']);
    t.is(bulk[c.handle].info?.state, 'active');
    t.true(bulk['conf-missing-handle'].error instanceof ContainerNotFoundError);
  });

  test(`${label}: streamIn then streamOut round-trips files, owned by the user`, async (t) => {
    const c = await create('stream');
    await c.streamIn({ path: '/home/alice/drop', user: 'alice', tarStream: await tarOf({ 'hello.txt': 'hi there\n', 'sub/inner.txt': 'deep\n' }) });
    const r = await run(c, 'sh', ['-c', 'cat /home/alice/drop/hello.txt; stat -c %U /home/alice/drop/hello.txt']);
    t.is(r.out, 'hi there\nalice\n');
    const files = await untar(await c.streamOut({ path: '/home/alice/drop/sub', user: 'alice' }));
    t.is(files['sub/inner.txt'], 'deep\n');
  });

  test(`${label}: metrics and limits`, async (t) => {
    const c = await create('limits', { limits: { memory: { limitInBytes: 64 * 1024 * 1024 }, pid: { max: 50 } } });
    t.is(Number((await c.currentMemoryLimits()).limitInBytes), 64 * 1024 * 1024);
    const m = await c.metrics();
    t.true(Number(m.memoryStat.totalUsageTowardLimit) > 0);
    t.true(m.age >= 0);
    const bulk = await subject().garden.bulkMetrics([c.handle]);
    t.truthy(bulk[c.handle].metrics);
  });

  test(`${label}: stop kills processes, the container stays`, async (t) => {
    const c = await create('stop');
    const p = await c.run({ path: 'sleep', args: ['100'] }, {});
    await c.stop(true);
    t.is(await p.wait(), 137);
    t.is((await subject().garden.lookup(c.handle)).handle, c.handle);
  });

  return {
    async cleanup(garden: Garden) {
      for (const h of created) await garden.destroy(h).catch((err) => {
        if (!(err instanceof ContainerNotFoundError)) throw err;
      });
    },
  };
}
