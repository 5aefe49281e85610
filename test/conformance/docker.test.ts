// The conformance suite on the Docker backend, embedded.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerBackend } from '../../src/backends/docker/index.js';
import { conformance, type Subject } from './suite.js';

const image = 'docker:///node-garden/busybox#test';
let subject: Subject;
let backend: DockerBackend;
let depot: string;

test.before(async () => {
  depot = mkdtempSync(path.join(tmpdir(), 'conformance-docker-'));
  backend = await DockerBackend.open({ depot, defaultRootfs: image, network: 'none' });
  subject = { garden: backend, image };
});

const suite = conformance(test, 'docker', () => subject);

test.after.always(async () => {
  if (backend) await suite.cleanup(backend);
  await backend?.close();
  if (depot) rmSync(depot, { recursive: true, force: true });
});
