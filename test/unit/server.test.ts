// Wire tests: byte transcripts (§6.8) and hijack head rules (§1.8) replayed
// against GardenServer over raw sockets.

import test from 'ava';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GardenServer } from '../../src/server/index.js';
import { FakeBackend, type FakeContainer } from '../support/fake-backend.js';
import { Reader, dial, exchange, undate, type Target } from '../support/raw.js';

async function start(opts: Partial<ConstructorParameters<typeof GardenServer>[1]> = {}) {
  const backend = new FakeBackend();
  const server = new GardenServer(backend, { bindIp: '127.0.0.1', bindPort: 0, ...opts });
  await server.listen();
  const target = server.address() as Target;
  return { backend, server, target };
}

const req = (method: string, path: string, body?: string, extra = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n` +
  (body !== undefined ? `Content-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n` : '') +
  `Accept-Encoding: gzip\r\nConnection: close\r\n${extra}\r\n${body ?? ''}`;

test('plain success: exact Go head and {} body', async (t) => {
  const { server, target } = await start();
  t.teardown(() => server.close());
  const out = await exchange(target, req('GET', '/ping'));
  t.is(undate(out), 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: X\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}\n');
});

test('unix socket: stale file replaced, mode 0777', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'garden-'));
  const path = join(dir, 'garden.sock');
  const a = await start({ bindSocket: path, bindPort: undefined });
  await a.server.close();
  const { server, target } = await start({ bindSocket: path, bindPort: undefined }); // stale socket file
  t.teardown(() => server.close());
  t.is(statSync(path).mode & 0o777, 0o777);
  t.regex(await exchange(target, req('GET', '/capacity')), /\r\n\r\n\{"memory_in_bytes":1111,"disk_in_bytes":2222,"schedulable_disk_in_bytes":18446744073709551615,"max_containers":42\}\n$/);
});

test('Run transcript (§6.8) byte for byte, with stdout and stderr streams', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  await backend.create({ handle: 'r1' });
  const body = JSON.stringify({ id: 'myproc', path: 'sh', args: ['-c', 'echo hello-stdout; echo to-err >&2; cat; exit 7'], rlimits: { nofile: 1024 }, tty: { window_size: { columns: 80, rows: 24 } }, image: {} }) + '\n';
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/r1/processes HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}`);
  t.is(undate(await ctl.head()), 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n');
  t.is(await ctl.line(), '{"process_id":"myproc","stream_id":"1"}\n');

  const out = new Reader(await dial(target));
  out.socket.write('GET /containers/r1/processes/myproc/attaches/1/stdout HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\n\r\n');
  t.is(undate(await out.head()), 'HTTP/1.1 200 OK\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n');
  const err = new Reader(await dial(target));
  err.socket.write('GET /containers/r1/processes/myproc/attaches/1/stderr HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\n\r\n');
  t.is(undate(await err.head()), 'HTTP/1.1 200 OK\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n');

  ctl.socket.write('{"process_id":"myproc","source":0,"data":"in-data"}\n{"process_id":"myproc","source":0}\n');
  t.is(await ctl.line(), '{"process_id":"myproc","exit_status":7}\n');
  t.is(await ctl.rest(), '');
  t.is(await out.rest(), 'hello-stdout\nin-data');
  t.is(await err.rest(), 'to-err\n');
});

test('Attach: head rules, first payload, exit, late stream connection still drains', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  const c = await backend.create({ handle: 'a1' });
  await c.run({ id: 'long', path: 'sh', args: ['-c', 'read x; echo got-$x'] }, {});
  const ctl = new Reader(await dial(target));
  ctl.socket.write('GET /containers/a1/processes/long HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n\r\n');
  const head = undate(await ctl.head());
  t.is(head, 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n');
  t.notRegex(head, /Connection: close/i);
  t.is(await ctl.line(), '{"process_id":"long","stream_id":"1"}\n');
  ctl.socket.write('{"process_id":"long","source":0,"data":"y\\n"}\n');
  t.is(await ctl.line(), '{"process_id":"long","exit_status":0}\n');
  // Connect after the attachment ended: buffered output, then EOF (§6.5).
  const out = await exchange(target, 'GET /containers/a1/processes/long/attaches/1/stdout HTTP/1.1\r\nHost: api\r\n\r\n');
  t.is(undate(out), 'HTTP/1.1 200 OK\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\ngot-y\n');
});

test('hijacked errors are framed by Content-Length, never Connection: close', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => server.close());
  await backend.create({ handle: 'h' });
  const attach = undate(await exchange(target, 'GET /containers/h/processes/ghost HTTP/1.1\r\nHost: api\r\n\r\n'));
  const body = '{"Type":"ProcessNotFoundError","Message":"unknown process: ghost","Handle":"","ProcessID":"ghost","Binary":""}\n';
  t.is(attach, `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nDate: X\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const nocont = await exchange(target, 'GET /containers/nope/processes/x HTTP/1.1\r\nHost: api\r\n\r\n');
  t.regex(nocont, /^HTTP\/1\.1 404 Not Found\r\n/);
  t.regex(nocont, /\{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope"/);
  const bad = '{"path":';
  const run = await exchange(target, `POST /containers/nope/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${bad.length}\r\n\r\n${bad}`);
  t.regex(run, /^HTTP\/1\.1 500 Internal Server Error\r\n/); // body decoded before lookup
  t.regex(run, /Content-Length: \d+\r\n\r\n\{"Type":"","Message":"unexpected end of JSON input"/);
  t.notRegex(run, /Connection: close/i);
  const noexe = await exchange(target, `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: 39\r\n\r\n{"path":"/no/such/exe","rlimits":{},"image":{}}`.replace('39', String('{"path":"/no/such/exe","rlimits":{},"image":{}}'.length)));
  t.regex(noexe, /"Type":"ExecutableNotFoundError"/);
});

test('unknown stream id: 200, head, immediate close', async (t) => {
  const { server, target } = await start();
  t.teardown(() => server.close());
  const out = await exchange(target, 'GET /containers/x/processes/y/attaches/999/stderr HTTP/1.1\r\nHost: api\r\n\r\n');
  t.is(undate(out), 'HTTP/1.1 200 OK\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n');
});

test('signals after stdin EOF are still honoured; disconnect leaves the process running', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  const c = (await backend.create({ handle: 's' })) as FakeContainer;
  const body = '{"id":"p","path":"sleep","args":["30"],"rlimits":{},"image":{}}';
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/s/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await ctl.head();
  await ctl.line();
  ctl.socket.destroy(); // client vanishes
  await new Promise((r) => setTimeout(r, 100));
  t.is(c.processes.get('p')!.exitCode, null);
  const ctl2 = new Reader(await dial(target));
  ctl2.socket.write('GET /containers/s/processes/p HTTP/1.1\r\nHost: api\r\n\r\n');
  await ctl2.head();
  t.is(await ctl2.line(), '{"process_id":"p","stream_id":"2"}\n');
  ctl2.socket.write('{"process_id":"p","source":0}\n{"process_id":"p","signal":1}\n');
  t.is(await ctl2.line(), '{"process_id":"p","exit_status":137}\n');
});

test('routing misses and hostile input get JSON errors; server survives', async (t) => {
  const { backend, server, target } = await start({ maxBodyBytes: 1024, maxHeaderBytes: 4096 });
  t.teardown(() => server.close());
  await backend.create({ handle: 'h' });
  const notFound = await exchange(target, req('GET', '/nope'));
  t.regex(notFound, /^HTTP\/1\.1 404 Not Found\r\nContent-Type: application\/json\r\n/);
  t.regex(notFound, /"Message":"404 page not found"/);
  const method = await exchange(target, req('PUT', '/containers/h/limits/cpu', '{}'));
  t.regex(method, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  t.regex(method, /\r\nAllow: GET\r\n/);
  t.regex(await exchange(target, req('DELETE', '/containers/')), /^HTTP\/1\.1 404 /);
  t.regex(await exchange(target, req('GET', '/containers/%zz/info')), /^HTTP\/1\.1 400 /);
  t.regex(await exchange(target, req('GET', '/containers/a+b/info')), /"Handle":"a\+b"/);
  const uni = await exchange(target, req('GET', '/containers/%C3%BCn%C3%AF%20code/info'));
  t.regex(Buffer.from(uni, 'latin1').toString('utf8'), /"Handle":"ünï code"/);
  const malformed = await exchange(target, req('POST', '/containers', '{"handle":'));
  t.regex(malformed, /^HTTP\/1\.1 500 /);
  t.regex(malformed, /"Type":"","Message":"unexpected end of JSON input"/);
  t.regex(await exchange(target, req('POST', '/containers', '{bad')), /invalid character 'b' looking for beginning of object key string/);
  t.regex(await exchange(target, req('PUT', '/containers/h/grace_time', '"1s"')), /time.Duration/);
  t.regex(await exchange(target, req('POST', '/containers/h/net/in', '{"host_port":-5}')), /cannot unmarshal number -5/);
  t.regex(await exchange(target, req('POST', '/containers', 'x'.repeat(5000))), /^HTTP\/1\.1 413 /);
  t.regex(await exchange(target, req('GET', '/ping', undefined, `X-Big: ${'a'.repeat(8000)}\r\n`)), /^HTTP\/1\.1 431 /);
  t.regex(await exchange(target, `GET /containers/h/processes/p HTTP/1.1\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  t.regex(await exchange(target, 'garbage\r\n\r\n'), /^HTTP\/1\.1 400 /);
  t.regex(await exchange(target, 'x'.repeat(10000)), /^HTTP\/1\.1 414 /);
  // Truncated request: client sends half a body then leaves.
  const s = await dial(target);
  s.write('POST /containers HTTP/1.1\r\nHost: api\r\nContent-Length: 100\r\n\r\n{"ha');
  s.destroy();
  t.regex(await exchange(target, req('GET', '/ping')), /^HTTP\/1\.1 200 /);
});

test('1,000 garbage requests leave the server alive and a stream untouched', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  await backend.create({ handle: 'g' });
  const body = '{"id":"ticker","path":"sh","args":["-c","i=0; while [ $i -lt 40 ]; do echo $i; i=$((i+1)); sleep 0.02; done"],"rlimits":{},"image":{}}';
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/g/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await ctl.head();
  await ctl.line();
  const out = new Reader(await dial(target));
  out.socket.write('GET /containers/g/processes/ticker/attaches/1/stdout HTTP/1.1\r\nHost: api\r\n\r\n');
  await out.head();
  const garbage = [
    'GET / HTTP/1.1\r\n\r\n', '\x00\x01\x02\r\n\r\n', 'POST /containers HTTP/1.1\r\nContent-Length: 5\r\n\r\n{{{{{',
    'GET /containers/g/processes/ticker HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 'PUT /containers/g/grace_time HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc',
    'GET /containers/g/processes/x/attaches/../stdout HTTP/1.1\r\n\r\n', 'BREW /coffee HTTP/1.1\r\n\r\n',
    'POST /containers/g/processes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  ];
  let statuses = 0;
  for (let i = 0; i < 1000; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => exchange(target, garbage[(i + j) % garbage.length]).catch(() => '')));
    statuses += batch.filter((r) => /^HTTP\/1\.1 [245]\d\d /.test(r)).length;
  }
  t.true(statuses >= 990, `${statuses} answered`);
  t.is(await ctl.line(), '{"process_id":"ticker","exit_status":0}\n');
  const expected = Array.from({ length: 40 }, (_, i) => `${i}\n`).join('');
  t.is(await out.rest(), expected);
  t.regex(await exchange(target, req('GET', '/ping')), /^HTTP\/1\.1 200 /);
});

test('slow stdout reader: backpressure reaches the process, nothing lost', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  const c = (await backend.create({ handle: 'bp' })) as FakeContainer;
  const total = 32 * 1024 * 1024;
  const body = JSON.stringify({ id: 'dd', path: 'head', args: ['-c', String(total), '/dev/zero'], rlimits: {}, image: {} });
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/bp/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await ctl.head();
  await ctl.line();
  const out = await dial(target);
  out.write('GET /containers/bp/processes/dd/attaches/1/stdout HTTP/1.1\r\nHost: api\r\n\r\n');
  out.pause();
  await new Promise((r) => setTimeout(r, 700));
  t.is(c.processes.get('dd')!.exitCode, null, 'process is held back by the unread socket');
  const mem = process.memoryUsage().rss;
  let got = 0;
  out.on('data', (d: Buffer) => { got += d.length; });
  out.resume();
  await new Promise((r) => out.on('close', r));
  t.is(got - 'HTTP/1.1 200 OK\r\nDate: Tue, 24 Nov 2026 21:17:45 GMT\r\nTransfer-Encoding: chunked\r\n\r\n'.length, total);
  t.true(process.memoryUsage().rss - mem < total, 'did not buffer the whole output');
  t.is(await ctl.line(), '{"process_id":"dd","exit_status":0}\n');
});

test('a stdout reader that vanishes mid-stream stalls nobody', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => { backend.killAll(); return server.close(); });
  await backend.create({ handle: 'v' });
  const body = JSON.stringify({ id: 'big', path: 'head', args: ['-c', String(8 * 1024 * 1024), '/dev/zero'], rlimits: {}, image: {} });
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/v/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await ctl.head();
  await ctl.line();
  const out = new Reader(await dial(target));
  out.socket.write('GET /containers/v/processes/big/attaches/1/stdout HTTP/1.1\r\nHost: api\r\n\r\n');
  await out.head();
  await out.bytes(1000);
  out.socket.destroy();
  t.is(await ctl.line(), '{"process_id":"big","exit_status":0}\n');
});

test('concurrent destroy: second gets "already being destroyed"', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => server.close());
  await backend.create({ handle: 'd' });
  // The first destroy is held open until the second has been answered.
  let release!: () => void;
  backend.destroyGate = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (backend.onDestroyStart = () => r()));
  const first = exchange(target, req('DELETE', '/containers/d'));
  await started;
  const b = await exchange(target, req('DELETE', '/containers/d'));
  release();
  const a = await first;
  t.regex(a, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n\{\}\n$/);
  t.regex(b, /^HTTP\/1\.1 500 [\s\S]*"Message":"container already being destroyed"/);
  t.regex(await exchange(target, req('DELETE', '/containers/d')), /^HTTP\/1\.1 404 [\s\S]*"Type":"ContainerNotFoundError"/);
});

test('grace time: expiry, paused while attached, 0 means never', async (t) => {
  const { backend, server, target } = await start({ defaultGraceTime: 0 });
  t.teardown(() => { backend.killAll(); return server.close(); });
  t.regex(await exchange(target, req('POST', '/containers', '{"handle":"g1","grace_time":1000000000}')), /"Handle":"g1"/);
  t.regex(await exchange(target, req('POST', '/containers', '{"handle":"g3"}')), /"Handle":"g3"/);
  t.regex(await exchange(target, req('POST', '/containers', '{"handle":"neg","grace_time":-1}')), /^HTTP\/1\.1 500 /);
  t.regex(await exchange(target, req('PUT', '/containers/g3/grace_time', '0')), /\{\}\n$/);
  t.regex(await exchange(target, req('POST', '/containers', '{"handle":"g2","grace_time":1000000000}')), /"Handle":"g2"/);
  const body = '{"id":"p","path":"sleep","args":["5"],"rlimits":{},"image":{}}';
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/g2/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  t.regex(await ctl.head(), /^HTTP\/1\.1 201 /);
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(backend.destroyed, ['g1']);
  ctl.socket.destroy(); // countdown restarts from the full grace time
  await new Promise((r) => setTimeout(r, 400));
  t.deepEqual(backend.destroyed, ['g1']);
  await new Promise((r) => setTimeout(r, 1200));
  t.deepEqual(backend.destroyed, ['g1', 'g2']);
  t.true(backend.containers_.has('g3'));
});

test('debug listener answers /debug/vars with memstats', async (t) => {
  const { server } = await start({ debugBindIp: '127.0.0.1', debugBindPort: 0 });
  t.teardown(() => server.close());
  const d = server.debugAddress()!;
  const out = await exchange({ host: d.host, port: d.port }, 'GET /debug/vars HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const vars = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as { memstats: { Alloc: number } };
  t.true(vars.memstats.Alloc > 0);
});

test('StreamIn chunked + StreamOut, and an aborted StreamOut is not a clean EOF', async (t) => {
  const { backend, server, target } = await start();
  t.teardown(() => server.close());
  await backend.create({ handle: 'f' });
  const chunked = 'PUT /containers/f/files?destination=%2Fdst+dir&user=root HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-tar\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  t.regex(await exchange(target, chunked), /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n\{\}\n$/);
  t.is(backend.containers_.get('f')!.files.get('/dst dir')!.toString(), 'hello world');
  const out = await exchange(target, req('GET', '/containers/f/files?source=%2Fdst+dir&user=root'));
  t.regex(out, /^HTTP\/1\.1 200 OK\r\n/);
  t.regex(out, /hello world/);
  t.regex(await exchange(target, req('GET', '/containers/f/files?source=%2Fmissing')), /^HTTP\/1\.1 500 [\s\S]*no such file/);
  backend.containers_.get('f')!.files.set('/x/broken', Buffer.alloc(10000, 1));
  const broken = await exchange(target, req('GET', '/containers/f/files?source=%2Fx%2Fbroken'));
  t.regex(broken, /Transfer-Encoding: chunked/);
  t.false(broken.endsWith('0\r\n\r\n'), 'no terminating chunk');
  const failed = await exchange(target, `PUT /containers/f/files?destination=%2Ffail HTTP/1.1\r\nHost: api\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n${'x'.repeat(200000)}`);
  t.regex(failed, /^HTTP\/1\.1 500 [\s\S]*"Message":"stream-in failed"/);
});

test('a stream nobody asked for does not hold the process forever', async (t) => {
  const { backend, server, target } = await start({ unclaimedStreamMs: 300, maxPendingOutputBytes: 64 * 1024 });
  t.teardown(() => { backend.killAll(); return server.close(); });
  await backend.create({ handle: 'u' });
  const body = JSON.stringify({ id: 'chatty', path: 'head', args: ['-c', String(4 * 1024 * 1024), '/dev/zero'], rlimits: {}, image: {} });
  const ctl = new Reader(await dial(target));
  ctl.socket.write(`POST /containers/u/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await ctl.head();
  await ctl.line();
  // Only stderr is wanted: stdout is released at once.
  const err = new Reader(await dial(target));
  err.socket.write('GET /containers/u/processes/chatty/attaches/1/stderr HTTP/1.1\r\nHost: api\r\n\r\n');
  await err.head();
  t.is(await ctl.line(), '{"process_id":"chatty","exit_status":0}\n');
  t.is(await err.rest(), '');
});

test('oversized Run body and header on a hijacked route: 413/431, framed', async (t) => {
  const { server, target } = await start({ maxBodyBytes: 1000 });
  t.teardown(() => server.close());
  const out = await exchange(target, `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`);
  t.regex(out, /^HTTP\/1\.1 413 [^\r]*\r\nContent-Type: application\/json\r\n/);
  t.notRegex(out, /Connection: close/);
  const chunked = await exchange(target, `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n${'x'.repeat(4096)}\r\n0\r\n\r\n`);
  t.regex(chunked, /^HTTP\/1\.1 413 /);
});

test('BulkInfo: failed entry carries a zero Info, byte for byte (§4.6)', async (t) => {
  const { server, target } = await start();
  t.teardown(() => server.close());
  const out = await exchange(target, req('GET', '/containers/bulk_info?handles=nope'));
  t.true(out.endsWith('\r\n\r\n{"nope":{"Info":{"State":"","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}}}\n'), out);
  t.regex(await exchange(target, req('GET', '/containers/bulk_info')), /\r\n\r\n\{\}\n$/); // missing param = empty list
  t.regex(await exchange(target, req('GET', '/containers')), /\r\n\r\n\{"Handles":\[\]\}\n$/);
});

test('a hijacked route as a later keep-alive request gets a JSON error', async (t) => {
  const { server, target } = await start();
  t.teardown(() => server.close());
  const out = await exchange(target, 'GET /ping HTTP/1.1\r\nHost: api\r\n\r\nGET /containers/h/processes/p HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  t.regex(out, /^HTTP\/1\.1 200 OK[\s\S]*HTTP\/1\.1 400 Bad Request[\s\S]*must be the first request on a new connection/);
});

test('JSON-lines logger writes one object per line', async (t) => {
  const { createJsonLogger } = await import('../../src/server/index.js');
  const lines: string[] = [];
  const log = createJsonLogger({ write: (l: string) => lines.push(l) }, 'info');
  log.debug({ a: 1 }, 'hidden');
  log.info({ handle: 'h', n: 2n }, 'created');
  log.error({ err: new Error('boom') }, 'failed');
  t.is(lines.length, 2);
  t.like(JSON.parse(lines[0]), { level: 30, msg: 'created', handle: 'h', n: '2' });
  t.like(JSON.parse(lines[1]), { level: 50, err: { message: 'boom' } });
});
