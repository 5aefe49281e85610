// A DockerBackend on a fresh depot against the test engine, and clean-up of
// everything it made (containers by the depot label, iptables rules by name).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { DockerBackend, type DockerBackendOptions } from '../../src/backends/docker/index.js';
import { LABEL_DEPOT } from '../../src/backends/docker/names.js';
import { cleanupNetwork } from '../../src/backends/docker/network.js';
import { initdBinary, root } from './initd.js';

export { root };
export const TEST_IMAGE = process.env.NODE_GARDEN_TEST_IMAGE ?? 'node-garden/busybox:test';

export function ensureTestImage(socketPath = '/var/run/docker.sock'): void {
  execFileSync('bash', [path.join(root, 'scripts/make-test-image.sh')], { stdio: 'ignore', env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` } });
}

export function makeDepot(prefix = 'ngd-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export async function openBackend(depot: string, extra: DockerBackendOptions = {}): Promise<DockerBackend> {
  return DockerBackend.open({ depot, initdPath: initdBinary, defaultRootfs: TEST_IMAGE, warn: () => {}, ...extra });
}

/** Removes every container labelled with the depot, their iptables rules, and the depot. */
export async function cleanupDepot(depot: string, docker = new Dockerode({ socketPath: '/var/run/docker.sock' })): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_DEPOT}=${depot}`] } }).catch(() => []);
  for (const c of list) {
    await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    await cleanupNetwork(undefined, c.Names[0].replace(/^\//, '')).catch(() => {});
    await cleanupNetwork({ bridge: 'docker0', forwardChain: 'DOCKER-USER' }, c.Names[0].replace(/^\//, '')).catch(() => {});
  }
  rmSync(depot, { recursive: true, force: true });
}

/** A Writable that keeps what it is given. */
export class Sink extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}
