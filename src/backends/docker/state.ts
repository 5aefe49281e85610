// Per-container state in the depot: <depot>/containers/<name>/state.json,
// written atomically (temp file, fsync, rename, fsync of the directory) so a
// SIGKILL at any instant leaves either the old or the new file.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BindMount, Limits, NetOutRule, PortMapping, Properties } from '../../api/types.js';

export interface ContainerState {
  version: 1;
  handle: string;
  /** Docker container name (see names.ts). */
  name: string;
  /** Docker container id, once created. */
  id?: string;
  /** 'creating' until create has fully succeeded: a crash before that is rolled back on open(). */
  status: 'creating' | 'created';
  createdAt: number;
  graceTime: number;
  properties: Properties;
  /** Base environment: image env, then the container spec's env. */
  env: string[];
  image: string;
  privileged: boolean;
  /** Whether the container runs in a remapped user namespace. */
  remapped: boolean;
  limits: Limits;
  bindMounts: BindMount[];
  netIn: PortMapping[];
  netOut: NetOutRule[];
  /** The container's IPv4 address on its Docker network ('' without one). */
  ip: string;
  /** Set once Stop ran: no new processes. */
  stopped: boolean;
  events: string[];
}

export function containersDir(depot: string): string {
  return path.join(depot, 'containers');
}

export function containerDir(depot: string, name: string): string {
  return path.join(containersDir(depot), name);
}

export async function writeState(depot: string, state: ContainerState): Promise<void> {
  const dir = containerDir(depot, state.name);
  const file = path.join(dir, 'state.json');
  const tmp = path.join(dir, `.state.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const body = JSON.stringify(state, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v), 2);
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export async function readState(depot: string, name: string): Promise<ContainerState | undefined> {
  try {
    const body = await fs.readFile(path.join(containerDir(depot, name), 'state.json'), 'utf8');
    return JSON.parse(body, (_k, v) => (v && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function listStateNames(depot: string): Promise<string[]> {
  try {
    return (await fs.readdir(containersDir(depot), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Serializes writes of one container's state (last write wins, in call order). */
export class StateWriter {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly depot: string, private readonly state: ContainerState) {}

  save(): Promise<void> {
    const snapshot = structuredClone(this.state);
    const next = this.chain.then(() => writeState(this.depot, snapshot));
    this.chain = next.catch(() => {});
    return next;
  }
}
