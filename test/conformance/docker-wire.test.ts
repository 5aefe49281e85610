// The conformance suite through the wire: GardenClient -> GardenServer -> Docker backend.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerBackend } from '../../src/backends/docker/index.js';
import { GardenClient } from '../../src/client/index.js';
import { GardenServer } from '../../src/server/index.js';
import { conformance, type Subject } from './suite.js';

const image = 'docker:///node-garden/busybox#test';
let subject: Subject;
let backend: DockerBackend;
let server: GardenServer;
let dir: string;

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'conformance-wire-'));
  backend = await DockerBackend.open({ depot: path.join(dir, 'depot'), defaultRootfs: image, network: 'none', reap: false });
  server = new GardenServer(backend, { bindSocket: path.join(dir, 'garden.sock') });
  await server.listen();
  subject = { garden: new GardenClient(`unix://${path.join(dir, 'garden.sock')}`), image };
});

const suite = conformance(test, 'docker over the wire', () => subject);

test.after.always(async () => {
  if (backend) await suite.cleanup(backend);
  await server?.close();
  await backend?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
