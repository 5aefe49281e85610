// dosh --pid: run a command in the namespaces of any running process (a
// container without init-d included), through the addon's setns spawn.

import { readFileSync } from 'node:fs';
import { nsSpawn, openpty, closeFd, setWinsize } from '../initd/native.js';
import { fail, runOnTerminal } from './terminal.js';

interface Options {
  user?: string;
  env: string[];
  dir?: string;
  tty: boolean;
}

/** Looks the user up in the target's own /etc/passwd (through /proc/PID/root). */
function resolveUser(pid: number, user: string | undefined): { uid: number; gid: number; home: string; name: string } {
  const spec = user ?? 'root';
  const [u, g] = spec.split(':');
  let passwd = '';
  try {
    passwd = readFileSync(`/proc/${pid}/root/etc/passwd`, 'utf8');
  } catch {
    // no passwd: numeric users only
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || (f[0] !== u && f[2] !== u)) continue;
    return { uid: Number(f[2]), gid: g !== undefined ? Number(g) : Number(f[3]), home: f[5] || '/', name: f[0] };
  }
  if (/^\d+$/.test(u)) return { uid: Number(u), gid: g !== undefined ? Number(g) : 0, home: '/', name: '' };
  if (u === 'root') return { uid: 0, gid: 0, home: '/root', name: 'root' };
  throw new Error(`unknown user '${u}' in the target's /etc/passwd`);
}

export async function runInNamespaces(pid: number, command: string[], opts: Options): Promise<number> {
  let user;
  try {
    user = resolveUser(pid, opts.user);
  } catch (err) {
    return fail((err as Error).message);
  }
  const env = [
    `PATH=${user.uid === 0 ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : '/usr/local/bin:/usr/bin:/bin'}`,
    `HOME=${user.home}`,
    ...(user.name ? [`USER=${user.name}`] : []),
    ...(opts.tty ? [`TERM=${process.env.TERM ?? 'xterm'}`] : []),
    ...opts.env,
  ];
  const base = { pid, path: command[0], args: command, env, cwd: opts.dir ?? user.home, uid: user.uid, gid: user.gid };
  try {
    if (!opts.tty) return await nsSpawn({ ...base, stdio: [0, 1, 2] }).wait;
    const pty = openpty(process.stdout.columns ?? 80, process.stdout.rows ?? 24);
    const spawned = nsSpawn({ ...base, stdio: [pty.slave, pty.slave, pty.slave], tty: true });
    closeFd(pty.slave);
    return await runOnTerminal(pty.master, async (cols, rows) => setWinsize(pty.master, cols, rows), () => spawned.wait);
  } catch (err) {
    return fail((err as Error).message);
  }
}
