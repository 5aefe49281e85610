// Typed wrapper over the garden Node-API addon (native/addon).
//
// The addon only has primitives: unix sockets and fd passing (SCM_RIGHTS)
// that never block the event loop, pty ioctls, and spawning into a running
// PID's namespaces. Defaults, retries and validation live here.
//
// Every system failure is an Error shaped like Node's own: `code` is the errno
// name ('ENOENT', 'EAGAIN', ...), `errno` its negated number, `syscall` the
// failing call and `path` where one was involved.
//
// Fds handed out here are plain numbers owned by the caller. Close them with
// closeFd(), which also cancels this fd's queued sendFds/recvFds (closing one
// behind their back can confuse the event loop's poller). sendFds/recvFds use
// MSG_DONTWAIT, so the socket's own blocking mode does not matter, but
// waiting on a socket leaves it O_NONBLOCK (libuv's poller sets it).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An Error carrying the errno name, like Node's system errors. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export interface RecvResult {
  /** The bytes that arrived; empty at EOF. */
  data: Buffer;
  /** Fds that arrived with them (CLOEXEC, now owned by the caller). */
  fds: number[];
}

export interface Pty {
  master: number;
  slave: number;
  slaveName: string;
}

export interface Winsize {
  cols: number;
  rows: number;
}

export interface NsSpawnOptions {
  /** A process whose namespaces (user, cgroup, ipc, uts, net, pid, mnt) and root to enter. */
  pid: number;
  /** Executable; searched in the PATH of `env` when it has no '/'. */
  path: string;
  /** The full argv, argv[0] included (defaults to [path] when empty). */
  args: readonly string[];
  /** The exact environment, as 'K=V' strings. */
  env: readonly string[];
  /** Working directory inside the container (default '/'). */
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Supplementary groups. Default: none when uid or gid is given, else unchanged. */
  groups?: readonly number[];
  /** Fds for the process's stdin, stdout, stderr (only these survive exec). */
  stdio: readonly [number, number, number];
  /** Make stdio[0] (a pty slave) the controlling terminal of the new session. */
  tty?: boolean;
  /** Fds open for writing on cgroup.procs files the process joins before exec. */
  cgroupFds?: readonly number[];
}

export interface NsSpawned {
  /** The process's pid as seen from here (the host). */
  pid: number;
  /** Its exit code; 128+N when killed by signal N. */
  wait: Promise<number>;
}

interface Addon {
  connectUnix(path: string): number;
  sendFds(fd: number, data: Uint8Array, fds: readonly number[]): Promise<void>;
  recvFds(fd: number, maxBytes: number, maxFds: number): Promise<RecvResult>;
  socketpair(): [number, number];
  pipe(): [number, number];
  setNonBlocking(fd: number, on: boolean): void;
  setPipeSize(fd: number, bytes: number): number;
  closeFd(fd: number): void;
  openpty(cols?: number, rows?: number): Pty;
  setWinsize(fd: number, cols: number, rows: number): void;
  getWinsize(fd: number): Winsize;
  nsSpawn(options: {
    pid: number;
    path: string;
    args: readonly string[];
    env: readonly string[];
    cwd?: string;
    uid?: number;
    gid?: number;
    groups?: readonly number[];
    stdio: readonly [number, number, number];
    tty: boolean;
    cgroupFds?: readonly number[];
  }): NsSpawned;
  keepHeap(trimThreshold: number, topPad: number, mmapThreshold: number): boolean;
}

/** The directory holding package.json, found from this file (src/ or dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('node-garden: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

let loaded: Addon | undefined;

/** Loads the addon on first use, so importing this module never fails. */
function addon(): Addon {
  if (loaded) return loaded;
  const root = packageRoot();
  const require = createRequire(join(root, 'package.json'));
  const candidates = [
    process.env.NODE_GARDEN_ADDON,
    join(root, 'build', 'Release', 'garden_addon.node'),
    join(root, 'build', 'Debug', 'garden_addon.node'),
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`node-garden: native addon not built (looked for ${candidates.join(', ')}); run \`npx node-gyp rebuild\``);
  }
  loaded = require(found) as Addon;
  return loaded;
}

let heapKept: boolean | undefined;

/**
 * Lets glibc keep what one GC cycle of a busy output stream frees (up to
 * 64 MiB of free heap, read buffers up to 4 MiB on the heap rather than
 * mmap'd) instead of handing it back and faulting it in again (see
 * native/addon/heap.cc). Called by the server, client and backends; once per
 * process. NODE_GARDEN_KEEP_HEAP=0 leaves malloc as it is. Never throws.
 */
export function keepHeap(): boolean {
  if (heapKept !== undefined) return heapKept;
  heapKept = false;
  if (process.env.NODE_GARDEN_KEEP_HEAP === '0') return false;
  try {
    heapKept = addon().keepHeap(64 << 20, 16 << 20, 4 << 20);
  } catch {
    // no addon built: the default heap works, only slower
  }
  return heapKept;
}

/** True when `e` is a system error (optionally with this code). */
export function isSystemError(e: unknown, code?: string): e is SystemError {
  return e instanceof Error && typeof (e as Partial<SystemError>).code === 'string' &&
    typeof (e as Partial<SystemError>).syscall === 'string' && (code === undefined || (e as SystemError).code === code);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Connects a SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK unix socket to `path`.
 * Unix connects are immediate; only a full listen backlog (EAGAIN) is
 * retried, for at most ~50 ms (blocking the thread that long at worst).
 */
export function connectUnix(path: string): number {
  let delay = 1;
  for (let spent = 0; ; spent += delay, delay = Math.min(delay * 2, 10)) {
    try {
      return addon().connectUnix(path);
    } catch (e) {
      if (!isSystemError(e, 'EAGAIN') || spent >= 50) throw e;
    }
    sleepSync(delay);
  }
}

/** connectUnix without blocking: a full backlog is retried on timers for up to `timeoutMs` (default 5000). */
export async function connectUnixAsync(path: string, options: { timeoutMs?: number } = {}): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  let delay = 1;
  for (;;) {
    try {
      return addon().connectUnix(path);
    } catch (e) {
      if (!isSystemError(e, 'EAGAIN') || Date.now() >= deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * Writes all of `data` to the socket `fd`, `fds` attached (SCM_RIGHTS) to the
 * first sendmsg. Sends on one fd complete in call order. The fds are dup'ed
 * when the send has to wait, so the caller may close its own once this
 * returns; `data` must not change until the promise settles.
 */
export function sendFds(fd: number, data: Uint8Array, fds: readonly number[] = []): Promise<void> {
  return addon().sendFds(fd, data, fds);
}

/**
 * One recvmsg on the socket `fd`: resolves with whatever arrived (at least one
 * byte; empty data means EOF), at most `maxBytes` bytes and `maxFds` fds.
 * More fds than `maxFds` rejects with EMSGSIZE (the extra fds are closed, the
 * bytes are lost: close the connection). Receives on one fd complete in call
 * order.
 */
export function recvFds(fd: number, maxBytes: number, maxFds: number): Promise<RecvResult> {
  return addon().recvFds(fd, maxBytes, maxFds);
}

/** An AF_UNIX SOCK_STREAM pair, CLOEXEC, both ends in blocking mode. */
export function socketpair(): [number, number] {
  return addon().socketpair();
}

/** A pipe [read, write], CLOEXEC, blocking. */
export function pipe(): [number, number] {
  return addon().pipe();
}

export function setNonBlocking(fd: number, on: boolean): void {
  addon().setNonBlocking(fd, on);
}

/** F_SETPIPE_SZ; returns the size the kernel granted. */
export function setPipeSize(fd: number, bytes: number): number {
  return addon().setPipeSize(fd, bytes);
}

/** Closes `fd`; its queued sendFds/recvFds reject with ECANCELED first. */
export function closeFd(fd: number): void {
  addon().closeFd(fd);
}

/** A new pty pair (CLOEXEC, blocking, not our controlling terminal), sized cols x rows. */
export function openpty(cols = 80, rows = 24): Pty {
  return addon().openpty(cols, rows);
}

/** TIOCSWINSZ: the terminal's foreground process group gets SIGWINCH. */
export function setWinsize(fd: number, cols: number, rows: number): void {
  addon().setWinsize(fd, cols, rows);
}

/** TIOCGWINSZ. */
export function getWinsize(fd: number): Winsize {
  return addon().getWinsize(fd);
}

/**
 * Runs a program inside the namespaces and root of process `pid` (for
 * containers without init-d). Blocks until the program has exec'ed, like
 * child_process.spawn; setup and exec failures throw (ENOENT for a missing
 * executable, EACCES, ESRCH for a gone pid, ...). The program gets a new
 * session, the given stdio, credentials and cwd, default signal dispositions
 * and an empty signal mask. It is not killed when this process exits.
 */
export function nsSpawn(options: NsSpawnOptions): NsSpawned {
  const idsGiven = options.uid !== undefined || options.gid !== undefined;
  return addon().nsSpawn({
    pid: options.pid,
    path: options.path,
    args: options.args,
    env: options.env,
    cwd: options.cwd ?? '/',
    uid: options.uid,
    gid: options.gid,
    groups: options.groups ?? (idsGiven ? [] : undefined),
    stdio: options.stdio,
    tty: options.tty ?? false,
    cgroupFds: options.cgroupFds,
  });
}
