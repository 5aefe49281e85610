// Handle -> Docker container name. The handle itself only ever lives in a
// label: the name is a sanitized prefix plus a hash of (depot, handle), so
// any handle is safe and two depots never collide on one engine.

import { createHash, randomBytes } from 'node:crypto';

export const LABEL_HANDLE = 'node-garden.handle';
export const LABEL_DEPOT = 'node-garden.depot';

export function containerName(depot: string, handle: string): string {
  const safe = handle.replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '').slice(0, 20);
  const hash = createHash('sha256').update(depot).update('\0').update(handle).digest('hex').slice(0, 12);
  return safe ? `garden-${safe}-${hash}` : `garden-${hash}`;
}

/** A handle for a spec that gave none (Garden uses an id-like string). */
export function generateHandle(): string {
  return randomBytes(8).toString('hex');
}
