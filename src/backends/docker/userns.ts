// User-namespace remapping of the engine: whether `privileged: false` can
// mean what Garden says (root in the container is not root on the host), and
// which host uid/gid the remapped root is.

import { promises as fs } from 'node:fs';

export interface EngineFacts {
  /** The engine runs containers in a remapped user namespace by default. */
  remapped: boolean;
  /** Host ids of container root under remapping. */
  remapRoot?: { uid: number; gid: number };
  swapAccounting: boolean;
  dockerRootDir: string;
}

async function firstRange(file: string, user: string): Promise<number | undefined> {
  try {
    const text = await fs.readFile(file, 'utf8');
    const line = text.split('\n').find((l) => l.split(':')[0] === user);
    return line ? Number(line.split(':')[1]) : undefined;
  } catch {
    return undefined;
  }
}

export async function engineFacts(info: { SecurityOptions?: string[]; SwapLimit?: boolean; DockerRootDir?: string }): Promise<EngineFacts> {
  const remapped = (info.SecurityOptions ?? []).some((o) => o.includes('name=userns'));
  const facts: EngineFacts = { remapped, swapAccounting: Boolean(info.SwapLimit), dockerRootDir: info.DockerRootDir ?? '/var/lib/docker' };
  if (remapped) {
    // Docker's root dir under remapping ends in "<uid>.<gid>"; /etc/subuid is the fallback.
    const m = /\/(\d+)\.(\d+)\/?$/.exec(facts.dockerRootDir);
    if (m) facts.remapRoot = { uid: Number(m[1]), gid: Number(m[2]) };
    else {
      const uid = await firstRange('/etc/subuid', 'dockremap');
      const gid = await firstRange('/etc/subgid', 'dockremap');
      if (uid !== undefined && gid !== undefined) facts.remapRoot = { uid, gid };
    }
  }
  return facts;
}
