// Runs a real init-d as PID 1 of a fresh PID namespace: either on the host's
// filesystem, or chrooted into a busybox rootfs with its own users.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { InitdClient } from '../../src/initd/client.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// NODE_GARDEN_INITD runs the suite against another build (e.g. one with sanitizers).
export const initdBinary = process.env.NODE_GARDEN_INITD ?? path.join(root, 'build/Release/init-d');

export interface RunningInitd {
  client: InitdClient;
  socketPath: string;
  /** The chroot's directory, when chrooted. */
  rootfs?: string;
  /** The unshare process; init-d is its child, PID 1 inside. */
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

export async function startInitd(opts: { chroot?: boolean; args?: string[] } = {}): Promise<RunningInitd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'initd-test-'));
  let socketPath: string;
  let argv: string[];
  let rootfs: string | undefined;
  if (opts.chroot) {
    rootfs = path.join(dir, 'rootfs');
    execFileSync('bash', [path.join(root, 'scripts/make-rootfs.sh'), rootfs], { stdio: 'ignore' });
    copyFileSync(initdBinary, path.join(rootfs, 'sbin/init-d'));
    copySharedLibraries(initdBinary, rootfs);
    socketPath = path.join(rootfs, 'run/garden/initd.sock');
    argv = ['--pid', '--fork', '--kill-child=SIGKILL', '--mount', `--root=${rootfs}`, '--mount-proc',
      '/sbin/init-d', '--socket', '/run/garden/initd.sock', ...(opts.args ?? [])];
  } else {
    socketPath = path.join(dir, 'run/initd.sock');
    argv = ['--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', initdBinary, '--socket', socketPath, ...(opts.args ?? [])];
  }
  const child = spawn('unshare', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  for (let i = 0; !existsSync(socketPath); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error(`init-d did not start: ${stderr}`);
    await sleep(10);
  }
  const client = new InitdClient(socketPath);
  // The socket file appears at bind(), a moment before listen(): retry briefly.
  for (let i = 0; ; i++) {
    try {
      await client.ping();
      break;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(10);
    }
  }
  return {
    client, socketPath, rootfs, child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // SIGTERM to init-d itself: a clean exit (and a leak check under sanitizers).
        try {
          const pid1 = Number(execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim());
          if (pid1 > 0) process.kill(pid1, 'SIGTERM');
        } catch {
          // already gone
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000); // --kill-child takes init-d down too
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function ensureDir(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

// A sanitizer build is dynamic: give the chroot the libraries it needs.
function copySharedLibraries(binary: string, rootfs: string): void {
  let ldd: string;
  try {
    ldd = execFileSync('ldd', [binary], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return; // static
  }
  for (const lib of ldd.matchAll(/(\/\S+\.so[^\s]*)/g)) {
    const dest = path.join(rootfs, lib[1]);
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(lib[1], dest);
  }
}
