// The engine restarting under a live backend: while it is down every call
// that needs it fails with ServiceUnavailableError (and what the depot
// knows still answers); once it is back the backend recovers by itself —
// the containers the engine stopped are started again with init-d, their
// net-in mappings rebuilt on the same host ports. The test runs its own
// dockerd (own socket, data and exec roots, its own bridge, no iptables of
// its own) so that restarting it touches nothing else on the machine.
// Never `--bridge=none`: that deletes the host's docker0.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { ProcessNotFoundError, ServiceUnavailableError } from '../../src/api/errors.js';
import type { DockerBackend, DockerContainer } from '../../src/backends/docker/index.js';
import { LABEL_DEPOT } from '../../src/backends/docker/names.js';
import { Sink, cleanupDepot, ensureTestImage, makeDepot, openBackend } from '../support/docker.js';
import { PrivateDockerd } from '../support/dockerd.js';

let engine: PrivateDockerd;
let docker: Dockerode;
let socketPath: string;
const startDockerd = () => engine.start();
const stopDockerd = () => engine.stop();

test.before(async () => {
  engine = new PrivateDockerd('nge', '10.254.217.1/24');
  ({ docker, socketPath } = engine);
  await startDockerd();
  ensureTestImage(socketPath);
});

test.after.always(async () => {
  await engine?.remove();
});

async function sh(c: DockerContainer, script: string) {
  const out = new Sink();
  const p = await c.run({ path: 'sh', args: ['-c', script] }, { stdout: out, stderr: out });
  return { code: await p.wait(), out: out.text() };
}

async function fetchTcp(port: number): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port });
        let data = '';
        const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, 3000);
        s.on('data', (d) => (data += d));
        s.on('end', () => { clearTimeout(timer); resolve(data); s.destroy(); });
        s.on('error', (e) => { clearTimeout(timer); reject(e); });
      });
    } catch (err) {
      if (i >= 30) throw err;
      await sleep(200);
    }
  }
}

test.serial('engine restart: ServiceUnavailableError while it is down, containers, processes and net-in back when it returns', async (t) => {
  t.timeout(400_000);
  const depot = makeDepot();
  t.teardown(() => cleanupDepot(depot, docker));
  const warnings: string[] = [];
  const b: DockerBackend = await openBackend(depot, { docker: { socketPath }, warn: (m) => warnings.push(m) });
  t.teardown(() => b.close());
  const c = await b.create({ handle: 'phoenix', properties: { kept: 'yes' }, netIn: [{ hostPort: 0, containerPort: 8080 }], graceTime: 0 });
  const stopped = await b.create({ handle: 'was-stopped' });
  await stopped.stop(false);
  const [mapping] = (await c.info()).mappedPorts;
  await c.run({ id: 'listener', path: 'sh', args: ['-c', 'while true; do echo before | nc -l -p 8080; done'] }, {});
  t.is((await fetchTcp(mapping.hostPort)).trim(), 'before');
  const before = await c.info();

  await stopDockerd();
  await t.throwsAsync(b.ping(), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(b.create({ handle: 'while-down' }), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(c.info(), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(c.metrics(), { instanceOf: ServiceUnavailableError });
  await t.throwsAsync(b.destroy('phoenix'), { instanceOf: ServiceUnavailableError });
  // The engine stopped the container on its way down: init-d went with it.
  await t.throwsAsync(c.run({ path: 'true' }, {}), { instanceOf: ServiceUnavailableError });
  // What the depot knows needs no engine.
  t.is(await c.property('kept'), 'yes');
  t.deepEqual((await b.containers()).map((x) => x.handle).sort(), ['phoenix', 'was-stopped']);

  await startDockerd();
  await b.ping(); // waits for the recovery
  const after = await c.info();
  t.is(after.state, 'active');
  t.deepEqual(after.mappedPorts, before.mappedPorts);
  t.deepEqual(after.properties, before.properties);
  t.deepEqual(after.processIDs, []);
  // Processes did not survive the engine (it killed the container); new ones run.
  await t.throwsAsync(c.attach('listener', {}), { instanceOf: ProcessNotFoundError });
  t.is((await sh(c, 'echo $((6*7))')).out, '42\n');
  await c.run({ id: 'listener', path: 'sh', args: ['-c', 'while true; do echo after | nc -l -p 8080; done'] }, {});
  t.is((await fetchTcp(mapping.hostPort)).trim(), 'after');
  // A container stopped (Garden's stop) before stays stopped for processes, but its files are there.
  t.is((await stopped.info()).state, 'stopped');
  t.deepEqual(warnings.filter((w) => /recover/.test(w)), []);
  const created = await b.create({ handle: 'after-restart' });
  t.is((await sh(created, 'echo ok')).out, 'ok\n');

  // A backend opened later (the previous one dropped) sees it all as well.
  await b.close();
  const b2 = await openBackend(depot, { docker: { socketPath } });
  t.teardown(() => b2.close());
  t.deepEqual((await b2.containers()).map((x) => x.handle).sort(), ['after-restart', 'phoenix', 'was-stopped']);
  t.is((await fetchTcp(mapping.hostPort)).trim(), 'after');
  for (const h of ['phoenix', 'was-stopped', 'after-restart']) await b2.destroy(h);
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${depot}`] } }), []);
  t.false(existsSync(path.join(depot, 'containers', c.name)));
  t.false(execFileSync('iptables-save').toString().includes(c.name));
});

test.serial('engine restart while no backend runs: open() starts the stopped containers again', async (t) => {
  t.timeout(400_000);
  const depot = makeDepot();
  t.teardown(() => cleanupDepot(depot, docker));
  const b = await openBackend(depot, { docker: { socketPath } });
  const c = await b.create({ handle: 'cold', netIn: [{ hostPort: 0, containerPort: 7070 }] });
  const [mapping] = (await c.info()).mappedPorts;
  await b.close();
  await stopDockerd();
  await startDockerd();
  const b2 = await openBackend(depot, { docker: { socketPath } });
  t.teardown(() => b2.close());
  const c2 = await b2.lookup('cold');
  t.is((await c2.info()).state, 'active');
  await c2.run({ path: 'sh', args: ['-c', 'while true; do echo cold | nc -l -p 7070; done'] }, {});
  t.is((await fetchTcp(mapping.hostPort)).trim(), 'cold');
  await b2.destroy('cold');
});
