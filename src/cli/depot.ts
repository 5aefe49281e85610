// Finding a container's init-d socket in the depot: by handle, or from the
// directory you stand in.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_DEPOT = '/var/lib/node-garden';
/** Where a container's init-d socket lives inside its depot dir. */
export const SOCKET_IN_CONTAINER_DIR = path.join('run', 'initd.sock');

export function depotFrom(flag: string | undefined): string {
  return flag ?? process.env.GARDEN_DEPOT ?? DEFAULT_DEPOT;
}

/** The socket of the container with this handle: its dir is named by the handle or records it in state.json. */
export function socketForHandle(depot: string, handle: string): string | undefined {
  const containers = path.join(depot, 'containers');
  const direct = path.join(containers, handle, SOCKET_IN_CONTAINER_DIR);
  if (!handle.includes('/') && existsSync(direct)) return direct;
  let entries: string[];
  try {
    entries = readdirSync(containers);
  } catch {
    return undefined;
  }
  for (const name of entries) {
    try {
      const state = JSON.parse(readFileSync(path.join(containers, name, 'state.json'), 'utf8'));
      if (state?.handle === handle) return path.join(containers, name, SOCKET_IN_CONTAINER_DIR);
    } catch {
      // not a container dir, or being written
    }
  }
  return undefined;
}

/** The socket of the container whose depot dir contains `cwd`, if any. */
export function socketFromCwd(cwd: string): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, SOCKET_IN_CONTAINER_DIR);
    if (existsSync(candidate)) return candidate;
    if (path.basename(dir) === 'run' && existsSync(path.join(dir, 'initd.sock'))) return path.join(dir, 'initd.sock');
    if (path.dirname(dir) === dir) return undefined;
  }
}
