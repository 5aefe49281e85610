// StreamIn / StreamOut through the Engine's archive API. A tar coming in is
// checked whole before anything is extracted: entries that are absolute or
// climb out with "..", symlinks whose target is absolute or leaves the
// destination, hard links to anything outside the archive, entries below a
// symlink the archive itself made, and device nodes are refused. Every entry
// is re-owned by the requested user (uid/gid from the container's
// /etc/passwd), as if that user had extracted it.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { GardenError, InvalidSpecError } from '../../api/errors.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Resolves 'name', 'uid', 'uid:gid' or 'name:group' against passwd/group text. */
export function resolveOwner(user: string | undefined, passwd: string, group: string): Owner {
  const spec = user || 'root';
  const [u, g] = spec.split(':', 2);
  let uid: number | undefined;
  let gid: number | undefined;
  const pw = passwd.split('\n').map((l) => l.split(':'));
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = Number(pw.find((f) => f[2] === u)?.[3] ?? u);
  } else {
    const row = pw.find((f) => f[0] === u);
    if (!row) throw new InvalidSpecError(`unknown user '${u}'`);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = group.split('\n').map((l) => l.split(':')).find((f) => f[0] === g);
      if (!row) throw new InvalidSpecError(`unknown group '${g}'`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}

function unsafe(message: string): InvalidSpecError {
  return new InvalidSpecError(`refusing tar stream: ${message}`);
}

/** Lexically normalized, relative to the destination; throws if it is absolute or leaves it. */
function inside(name: string, what: string): string {
  if (name.startsWith('/')) throw unsafe(`${what} is absolute: ${name}`);
  const n = path.posix.normalize(name);
  if (n === '..' || n.startsWith('../')) throw unsafe(`${what} leaves the destination: ${name}`);
  return n === '.' ? '' : n.replace(/\/$/, '');
}

/**
 * Reads `input` (a tar), checks every entry and writes a re-owned copy to
 * `outFile`. Nothing is extracted anywhere.
 */
export async function sanitizeTar(input: Readable, outFile: string, owner: Owner): Promise<number> {
  const extract = tar.extract();
  const pack = tar.pack();
  const symlinks = new Set<string>();
  const names = new Set<string>();
  let entries = 0;
  const out = pipeline(pack, createWriteStream(outFile, { mode: 0o600 }));
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = inside(h.name, 'entry');
      for (let p = path.posix.dirname(name); p !== '.' && p !== ''; p = path.posix.dirname(p))
        if (symlinks.has(p)) throw unsafe(`entry ${h.name} is below the archive's own symlink ${p}`);
      switch (h.type) {
        case 'file': case 'contiguous-file': case 'directory': case 'fifo':
          break;
        case 'symlink': {
          const target = h.linkname ?? '';
          if (target.startsWith('/')) throw unsafe(`symlink ${h.name} -> ${target} is absolute`);
          inside(path.posix.join(path.posix.dirname(name), target), `symlink ${h.name} -> ${target}`);
          symlinks.add(name);
          break;
        }
        case 'link': {
          const target = inside(h.linkname ?? '', `hard link ${h.name} -> ${h.linkname}`);
          if (!names.has(target)) throw unsafe(`hard link ${h.name} -> ${h.linkname} points outside the archive`);
          break;
        }
        default:
          throw unsafe(`entry ${h.name} has unsupported type ${h.type}`);
      }
      names.add(name);
      entries++;
      const header: tar.Header = {
        name: h.name, type: h.type, mode: h.mode, mtime: h.mtime, size: h.type === 'file' || h.type === 'contiguous-file' ? h.size : 0,
        linkname: h.linkname, uid: owner.uid, gid: owner.gid, uname: '', gname: '', devmajor: 0, devminor: 0,
      };
      const sink = pack.entry(header);
      await pipeline(entry, sink);
    }
    pack.finalize();
  })();
  consume.catch(() => {
    pack.destroy();
    extract.destroy();
    input.destroy();
  });
  const results = await Promise.allSettled([pipeline(input, extract), consume, out]);
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (errors.length) {
    const garden = errors.find((e) => e instanceof GardenError);
    if (garden) throw garden;
    throw new InvalidSpecError(`invalid tar stream: ${errors[0].message}`);
  }
  return entries;
}

export async function withTempFile<T>(dir: string, fn: (file: string) => Promise<T>): Promise<T> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `stream-in.${process.pid}.${randomBytes(6).toString('hex')}.tar`);
  try {
    return await fn(file);
  } finally {
    await fs.rm(file, { force: true });
  }
}

export { createReadStream };
