// privileged: false means what Garden says — root in the container is not
// root on the host — on an engine with user-namespace remapping. The test
// starts that engine itself (its own socket, data and exec roots, no
// iptables) and stops it at the end. Not `--bridge=none`: a dockerd started
// that way deletes the host's docker0 (moby's removeDefaultBridgeInterface),
// breaking the default engine; it gets a bridge of its own instead.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import Dockerode from 'dockerode';
import { ROOT_IS_HOST_ROOT, type DockerBackend, type DockerContainer } from '../../src/backends/docker/index.js';
import { LABEL_DEPOT } from '../../src/backends/docker/names.js';
import { Sink, cleanupDepot, ensureTestImage, makeDepot, openBackend } from '../support/docker.js';
import { PrivateDockerd } from '../support/dockerd.js';

let engine: PrivateDockerd;
let docker: Dockerode;
let socketPath: string;
let depot: string;
let backend: DockerBackend;

test.before(async () => {
  engine = new PrivateDockerd('ngu', '10.254.213.1/24', ['--userns-remap=default']);
  ({ docker, socketPath } = engine);
  await engine.start();
  ensureTestImage(socketPath);
  depot = makeDepot();
  backend = await openBackend(depot, { docker: { socketPath }, network: 'none' });
});

test.after.always(async () => {
  await backend?.close();
  if (depot) await cleanupDepot(depot, docker);
  await engine?.remove();
});

async function sh(c: DockerContainer, script: string, user?: string) {
  const out = new Sink();
  const p = await c.run({ path: 'sh', args: ['-c', script], ...(user ? { user } : {}) }, { stdout: out, stderr: out });
  return { code: await p.wait(), out: out.text() };
}

function hostUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

test('privileged: false: container root is an unprivileged host uid', async (t) => {
  t.true(backend.userNamespaces);
  const c = await backend.create({ handle: 'unpriv' });
  const r = await sh(c, 'cat /proc/self/uid_map; id -u');
  t.is(r.code, 0);
  t.regex(r.out, /^\s*0\s+100000\s+65536\s*\n0\n$/);
  const pid = (await docker.getContainer(c.name).inspect()).State.Pid;
  t.is(hostUid(pid), 100000); // init-d itself
  t.false(ROOT_IS_HOST_ROOT in (await c.properties()));
  // Processes, users and files work as in any container.
  t.is((await sh(c, 'id -un; pwd', 'alice')).out, 'alice\n/home/alice\n');
  const pack = tar.pack();
  pack.entry({ name: 'f.txt' }, 'hi');
  pack.finalize();
  await c.streamIn({ path: '/home/alice/in', user: 'alice', tarStream: pack });
  t.is((await sh(c, 'stat -c "%u %U" /home/alice/in/f.txt; cat /home/alice/in/f.txt')).out, '1000 alice\nhi');
  // The init-d socket dir is owned by the remapped root, the socket reachable from the host only.
  const i = await c.info();
  t.is(i.state, 'active');
  t.is(Number(execFileSync('stat', ['-c', '%u', path.join(i.containerPath, 'run')]).toString()), 100000);
  await backend.destroy('unpriv');
});

test('privileged: true: no user namespace (--userns=host), and it says so', async (t) => {
  const c = await backend.create({ handle: 'priv', privileged: true });
  const r = await sh(c, 'cat /proc/self/uid_map');
  t.regex(r.out, /^\s*0\s+0\s+4294967295\s*\n$/);
  t.is(hostUid((await docker.getContainer(c.name).inspect()).State.Pid), 0);
  t.is(await c.property(ROOT_IS_HOST_ROOT), 'true');
  t.is((await sh(c, 'id -un', 'bob')).out, 'bob\n');
  await backend.destroy('priv');
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${depot}`, 'node-garden.handle=priv'] } }), []);
});

test('an engine without remapping: open() warns once, and containers say root is host root', async (t) => {
  const d = makeDepot();
  t.teardown(() => cleanupDepot(d));
  const warnings: string[] = [];
  const b = await openBackend(d, { network: 'none', warn: (m) => warnings.push(m) });
  t.teardown(() => b.close());
  t.false(b.userNamespaces);
  const c = await b.create({ handle: 'plain', privileged: false });
  await b.create({ handle: 'plain2' });
  t.is(warnings.filter((w) => /user-namespace remapping/.test(w)).length, 1);
  t.is((await c.info()).properties[ROOT_IS_HOST_ROOT], 'true');
  t.is((await b.containers({ [ROOT_IS_HOST_ROOT]: 'true' })).length, 2);
  await b.destroy('plain');
  await b.destroy('plain2');
});
