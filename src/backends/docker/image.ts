// Rootfs resolution: Garden's image URI (or the deprecated rootfs path) to a
// local Docker image. `docker:///repo#tag` and `docker://registry/repo#tag`
// name an image (pulled when missing); a plain image reference is used as is;
// a directory or a tarball on the host is imported once and cached by
// content: a local image tagged with the tarball's sha256, or a directory
// tree's digest (paths, modes, owners, sizes, mtimes), so a changed rootfs
// is imported again and two copies of one are imported once.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { InvalidSpecError } from '../../api/errors.js';
import type { ImageRef } from '../../api/types.js';
import { engine, fromEngine, statusOf } from './engine.js';

export const IMPORT_REPO = 'node-garden-rootfs';

export interface ResolvedImage {
  /** Reference to create the container from. */
  ref: string;
  /** The image's own environment (Config.Env). */
  env: string[];
}

export class ImageResolver {
  private inflight = new Map<string, Promise<ResolvedImage>>();
  private digests = new Map<string, string>();

  constructor(private readonly docker: Dockerode, private readonly defaultRootfs: string | undefined) {}

  resolve(image: ImageRef | undefined, rootfsPath: string | undefined): Promise<ResolvedImage> {
    const uri = image?.uri || rootfsPath || this.defaultRootfs;
    if (!uri) throw new InvalidSpecError('no image given and the backend has no default rootfs');
    let p = this.inflight.get(uri);
    if (!p) {
      p = this.resolveUri(uri, image).finally(() => this.inflight.delete(uri));
      this.inflight.set(uri, p);
    }
    return p;
  }

  private async resolveUri(uri: string, auth: ImageRef | undefined): Promise<ResolvedImage> {
    if (uri.startsWith('docker://')) return this.ensure(dockerRef(uri), auth);
    if (uri.startsWith('/') || uri.startsWith('file://') || uri.startsWith('raw://')) {
      const p = uri.replace(/^(file|raw):\/\//, '');
      return this.importPath(p);
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new InvalidSpecError(`unsupported image scheme: ${uri}`);
    return this.ensure(uri, auth); // a plain local reference such as busybox:latest
  }

  private async ensure(ref: string, auth: ImageRef | undefined): Promise<ResolvedImage> {
    try {
      return await this.inspect(ref);
    } catch (err) {
      if (statusOf(err) !== 404) throw fromEngine(err);
    }
    const stream = await engine(() => this.docker.pull(ref, auth?.username ? { authconfig: { username: auth.username, password: auth.password ?? '' } } : {}))
      .catch((err) => { throw new InvalidSpecError(`image ${ref} not found locally and could not be pulled: ${err.message}`); });
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(stream as NodeJS.ReadableStream, (err) => (err ? reject(new InvalidSpecError(`pull ${ref}: ${err.message}`)) : resolve())));
    return this.inspect(ref);
  }

  private async inspect(ref: string): Promise<ResolvedImage> {
    const info = await this.docker.getImage(ref).inspect();
    return { ref, env: info.Config?.Env ?? [] };
  }

  private async importPath(p: string): Promise<ResolvedImage> {
    let st;
    try {
      st = await fs.stat(p);
    } catch {
      throw new InvalidSpecError(`rootfs not found: ${p}`);
    }
    const tag = st.isDirectory() ? await treeDigest(p) : await this.fileDigest(p, st);
    const ref = `${IMPORT_REPO}:${tag}`;
    try {
      return await this.inspect(ref);
    } catch (err) {
      if (statusOf(err) !== 404) throw fromEngine(err);
    }
    let source: NodeJS.ReadableStream;
    let tar: ReturnType<typeof spawn> | undefined;
    if (st.isDirectory()) {
      tar = spawn('tar', ['-C', p, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      source = tar.stdout!;
    } else {
      source = createReadStream(p); // Docker accepts plain and compressed tarballs
    }
    const out = await engine(() => this.docker.importImage(source, { repo: IMPORT_REPO, tag }));
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(out, (err) => (err ? reject(new InvalidSpecError(`import ${p}: ${err.message}`)) : resolve())));
    if (tar && tar.exitCode === null) await new Promise((r) => tar!.once('exit', r));
    if (tar && tar.exitCode !== 0) throw new InvalidSpecError(`import ${p}: tar failed`);
    return this.inspect(ref);
  }

  /** sha256 of a tarball's bytes, remembered while its path, size, mtime and inode stay the same. */
  private async fileDigest(p: string, st: { size: number; mtimeMs: number; ino: number }): Promise<string> {
    const key = `${path.resolve(p)}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
    let digest = this.digests.get(key);
    if (!digest) {
      const h = createHash('sha256');
      for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
      digest = `tar-${h.digest('hex').slice(0, 40)}`;
      this.digests.set(key, digest);
    }
    return digest;
  }
}

/**
 * A digest of a directory tree's content as the import would see it: every
 * entry's relative path, type, mode, owner, size, mtime and link target (a
 * changed file changes its size or mtime). Where the tree lives does not
 * count, so two copies of one rootfs share one image.
 */
export async function treeDigest(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(root, r);
      const st = await fs.lstat(full);
      const link = st.isSymbolicLink() ? await fs.readlink(full) : '';
      h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.isDirectory() ? 0 : st.size}\0${Math.trunc(st.mtimeMs)}\0${link}\0${st.rdev}\n`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return `dir-${h.digest('hex').slice(0, 40)}`;
}

/** docker:///repo#tag -> repo:tag; docker://registry/repo#tag -> registry/repo:tag. */
export function dockerRef(uri: string): string {
  const u = new URL(uri);
  const repo = u.pathname.replace(/^\/+/, '');
  if (!repo) throw new InvalidSpecError(`no repository in ${uri}`);
  const tag = decodeURIComponent(u.hash.replace(/^#/, '')) || 'latest';
  const name = u.host ? `${u.host}/${repo}` : repo;
  return tag.startsWith('sha256:') ? `${name}@${tag}` : `${name}:${tag}`;
}
