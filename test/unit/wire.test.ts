import test from 'ava';
import { JsonNumber, parseJson, parseFirstJson, quote, stringify, JsonSyntaxError } from '../../src/wire/json.js';
import { decode, encode, msToNs, nsToMs } from '../../src/wire/schema.js';
import * as C from '../../src/wire/codec.js';
import { JsonStreamReader } from '../../src/wire/ndjson.js';
import { buildPath, buildQuery, matchRoute } from '../../src/wire/routes.js';
import { decodeError, encodeError } from '../../src/wire/errors.js';
import { ContainerNotFoundError, ProcessNotFoundError, ServiceUnavailableError, GardenError } from '../../src/api/errors.js';
import type { ContainerSpec, Metrics, ProcessSpec } from '../../src/api/types.js';

const FULL_CREATE = '{"handle":"full","grace_time":90000000000,"rootfs":"/rootfs","image":{"uri":"docker:///busybox","username":"u","password":"p"},"bind_mounts":[{"src_path":"/a","dst_path":"/b","mode":1,"origin":1}],"network":"10.1.0.0/30","properties":{"k":"v","x":"\\u003c\\u0026\\u003e"},"env":["A=B"],"privileged":true,"limits":{"bandwidth_limits":{"rate":1,"burst":2},"cpu_limits":{"weight":3,"limit_in_shares":4},"disk_limits":{"inode_soft":5,"inode_hard":6,"byte_soft":7,"byte_hard":8,"scope":1},"memory_limits":{"limit_in_bytes":9},"pid_limits":{"max":10}},"netout_rules":[{"protocol":1,"networks":[{"start":"1.2.3.4","end":"1.2.3.4"},{"start":"::1","end":"::2"}],"ports":[{"start":80,"end":80}],"icmps":{"type":8,"code":3},"log":true}],"netin":[{"host_port":0,"container_port":8080}]}';

test('Go escaping', (t) => {
  t.is(quote('no capacity <now> & later'), '"no capacity \\u003cnow\\u003e \\u0026 later"');
  t.is(quote('a\u2028b\u2029'), '"a\\u2028b\\u2029"');
  t.is(quote('"\\\n\r\t\u0001\u001f'), '"\\"\\\\\\n\\r\\t\\u0001\\u001f"');
  t.is(quote('ünï'), '"ünï"');
  t.is(quote('x\ud800y'), '"x\ufffdy"');
});

test('exact 64-bit integers both ways', (t) => {
  const v = parseJson('{"a":18446744073709551615,"b":9223372036854771712,"c":-5,"d":1.5}') as Record<string, JsonNumber>;
  t.is(v.a.text, '18446744073709551615');
  t.is(stringify({ b: 18446744073709551615n, a: 1 }), '{"a":1,"b":18446744073709551615}');
  const spec = decode<ProcessSpec>(C.ProcessSpec, parseJson('{"path":"x","rlimits":{"nofile":0,"as":18446744073709551615},"image":{}}'));
  t.deepEqual(spec.limits, { as: 18446744073709551615n, nofile: 0 });
  t.is(encode(C.ProcessSpec, spec), '{"path":"x","rlimits":{"as":18446744073709551615,"nofile":0},"image":{}}\n');
});

test('full Create body round-trips byte for byte', (t) => {
  const spec = decode<ContainerSpec>(C.ContainerSpec, parseJson(FULL_CREATE));
  t.is(spec.graceTime, 90000);
  t.is(spec.limits?.bandwidth?.rateInBytesPerSecond, 1);
  t.is(spec.netOut?.[0].icmps?.code, 3);
  t.is(spec.properties?.x, '<&>');
  t.is(encode(C.ContainerSpec, spec), FULL_CREATE + '\n');
});

test('empty ContainerSpec encodes as Go does', (t) => {
  t.is(encode(C.ContainerSpec, {}), '{"image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n');
});

test('observed Run bodies', (t) => {
  const a = '{"path":"true","rlimits":{},"image":{}}';
  const b = '{"id":"myproc","path":"echo","args":["a"],"env":["X=1"],"dir":"/tmp","user":"root","rlimits":{"nofile":1024},"tty":{"window_size":{"columns":80,"rows":24}},"image":{}}';
  for (const body of [a, b]) t.is(encode(C.ProcessSpec, decode(C.ProcessSpec, parseJson(body))), body + '\n');
  const spec = decode<ProcessSpec>(C.ProcessSpec, parseJson(b));
  t.deepEqual(spec.tty, { windowSize: { columns: 80, rows: 24 } });
});

test('pointer fields keep 0 distinct from absent', (t) => {
  const p = decode<Record<string, unknown>>(C.ProcessPayload, parseJson('{"process_id":"p","signal":0}'));
  t.is(p.signal, 0);
  t.false('source' in p);
  t.is(encode(C.ProcessPayload, { processId: 'p', source: 0 }), '{"process_id":"p","source":0}\n');
  t.is(encode(C.NetOutRule, { icmps: { type: 0, code: 0 } }), '{"icmps":{"code":0}}\n');
});

test('decode is case-insensitive and rejects wrong types', (t) => {
  t.deepEqual(decode(C.StopRequest, parseJson('{"KILL":true}')), { kill: true });
  t.throws(() => decode(C.NetInRequest, parseJson('{"host_port":-5}')), { message: /cannot unmarshal number -5/ });
  t.throws(() => decode(C.ContainerSpec, parseJson('{"grace_time":"1s"}')), { message: /cannot unmarshal string/ });
  t.throws(() => decode(C.Capacity, parseJson('{"max_containers":1.5}')));
  t.throws(() => parseJson('{bad'), { message: /looking for beginning of object key string/ });
  t.throws(() => parseFirstJson(''), { message: 'EOF' });
  t.deepEqual(parseFirstJson('{"kill":true}\ngarbage'), parseJson('{"kill":true}'));
});

test('metrics encode in Go order with exact big values and durations', (t) => {
  const zero = decode<Metrics>(C.Metrics, parseJson('{}'));
  t.is(zero.networkStat, null);
  zero.memoryStat.hierarchicalMemoryLimit = 9223372036854771712n;
  zero.age = 1500;
  const s = encode(C.Metrics, zero);
  t.regex(s, /^\{"MemoryStat":\{"active_anon":0,/);
  t.regex(s, /"hierarchical_memory_limit":9223372036854771712,/);
  t.regex(s, /"TotalUsageTowardLimit":0,"anon":0,"file":0,"swapcached":0\},"CPUStat"/);
  t.regex(s, /"NetworkStat":null,"PidStat":\{"Current":0,"Max":0\},"Age":1500000000,"CPUEntitlement":0\}\n$/);
  t.deepEqual(decode(C.Metrics, parseJson(s)), zero);
});

test('durations convert exactly', (t) => {
  t.is(msToNs(1500), 1500000000n);
  t.is(msToNs(0.000001), 1n);
  t.is(nsToMs(90000000000n), 90000);
  t.is(nsToMs(1n), 0.000001);
});

test('capacity omits zeros', (t) => {
  t.is(encode(C.Capacity, { memoryInBytes: 0, diskInBytes: 0, schedulableDiskInBytes: 0, maxContainers: 0 }), '{}\n');
  t.is(encode(C.Capacity, { memoryInBytes: 1111, diskInBytes: 2222, schedulableDiskInBytes: 3333, maxContainers: 42 }),
    '{"memory_in_bytes":1111,"disk_in_bytes":2222,"schedulable_disk_in_bytes":3333,"max_containers":42}\n');
});

test('error JSON', (t) => {
  t.is(encodeError(new ContainerNotFoundError('nope')), '{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}\n');
  t.is(encodeError(new ServiceUnavailableError('no capacity <now> & later')), '{"Type":"ServiceUnavailableError","Message":"no capacity \\u003cnow\\u003e \\u0026 later","Handle":"","ProcessID":"","Binary":""}\n');
  t.is(encodeError(new Error('handle already exists: dup')), '{"Type":"","Message":"handle already exists: dup","Handle":"","ProcessID":"","Binary":""}\n');
  const e = decodeError(parseJson('{"Type":"ProcessNotFoundError","Message":"x","Handle":"","ProcessID":"ghost","Binary":""}'));
  t.true(e instanceof ProcessNotFoundError);
  t.is(e.message, 'unknown process: ghost');
  const g = decodeError(parseJson('{"Type":"Whatever","Message":"boom"}'));
  t.is(g.constructor, GardenError);
  t.is(g.message, 'boom');
});

test('stream reader splits values across and within reads', (t) => {
  const r = new JsonStreamReader();
  t.deepEqual(r.push(Buffer.from('{"a":1}\n{"b"')).length, 1);
  t.deepEqual(r.push(Buffer.from([0x3a, 0x22, 0xc3])).length, 0);
  const v = r.push(Buffer.from([0xbc, 0x22, 0x7d, 0x20, 0x7b, 0x7d]));
  t.is(v.length, 2);
  t.is((v[0] as Record<string, string>).b, 'ü');
  t.throws(() => r.push('}'), { instanceOf: JsonSyntaxError });
});

test('routes: match, 405, encoding', (t) => {
  const m = matchRoute('GET', '/containers/50%41/processes/p+q/attaches/1/stdout');
  t.is(m.kind, 'found');
  if (m.kind === 'found') {
    t.is(m.route.name, 'Stdout');
    t.deepEqual(m.params, { handle: '50A', pid: 'p+q', streamid: '1' });
  }
  t.like(matchRoute('GET', '/containers/bulk_info'), { kind: 'found', route: { name: 'BulkInfo' } });
  t.like(matchRoute('DELETE', '/containers/bulk_info'), { kind: 'found', params: { handle: 'bulk_info' } });
  t.deepEqual(matchRoute('DELETE', '/containers/'), { kind: 'none' });
  t.deepEqual(matchRoute('PUT', '/containers/h/limits/cpu'), { kind: 'method', allow: ['GET'] });
  t.is(matchRoute('GET', '/containers/a%zz/info').kind, 'bad');
  t.is(buildPath('Property', { handle: 'a/b c+', key: 'ü' }), '/containers/a%2Fb%20c%2B/properties/%C3%BC');
  t.is(buildQuery({ user: 'root', destination: '/dst dir' }), '?destination=%2Fdst+dir&user=root');
  t.is(buildQuery({}), '');
});
