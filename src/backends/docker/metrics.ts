// Metrics from cgroup v1 files (memory, cpuacct, pids) of the container's
// init process, network counters from its /proc/<pid>/net/dev, disk use
// from its overlay upper directory.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerMemoryStat, ContainerNetworkStat, U64 } from '../../api/types.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const USER_HZ = 100;
const UNLIMITED_V1 = 9223372036854771712n; // PAGE_COUNTER_MAX * 4096

/** cgroup v1 controller -> directory of the process. */
export async function cgroupDirs(pid: number): Promise<Map<string, string>> {
  const text = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8');
  const dirs = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, controllers, p] = line.split(':');
    if (!controllers || p === undefined) continue;
    for (const c of controllers.split(',')) dirs.set(c, path.join(CGROUP_ROOT, c, p));
  }
  return dirs;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function u64(s: string | undefined): U64 {
  if (!s) return 0;
  const t = s.trim();
  if (t === 'max') return 0;
  const b = BigInt(t);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function sub(a: U64, b: U64): U64 {
  const r = BigInt(a) - BigInt(b);
  const c = r < 0n ? 0n : r;
  return c <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(c) : c;
}

export async function memoryStat(dirs: Map<string, string>): Promise<ContainerMemoryStat> {
  const dir = dirs.get('memory');
  const stat = new Map<string, string>();
  const text = dir ? await readText(path.join(dir, 'memory.stat')) : undefined;
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) stat.set(k, v);
  }
  const g = (k: string) => u64(stat.get(k));
  const usage = u64(dir ? await readText(path.join(dir, 'memory.usage_in_bytes')) : undefined);
  return {
    activeAnon: g('active_anon'), activeFile: g('active_file'), cache: g('cache'),
    hierarchicalMemoryLimit: g('hierarchical_memory_limit'), inactiveAnon: g('inactive_anon'),
    inactiveFile: g('inactive_file'), mappedFile: g('mapped_file'), pgfault: g('pgfault'),
    pgmajfault: g('pgmajfault'), pgpgin: g('pgpgin'), pgpgout: g('pgpgout'), rss: g('rss'),
    totalActiveAnon: g('total_active_anon'), totalActiveFile: g('total_active_file'), totalCache: g('total_cache'),
    totalInactiveAnon: g('total_inactive_anon'), totalInactiveFile: g('total_inactive_file'),
    totalMappedFile: g('total_mapped_file'), totalPgfault: g('total_pgfault'), totalPgmajfault: g('total_pgmajfault'),
    totalPgpgin: g('total_pgpgin'), totalPgpgout: g('total_pgpgout'), totalRss: g('total_rss'),
    totalUnevictable: g('total_unevictable'), unevictable: g('unevictable'), swap: g('swap'),
    hierarchicalMemswLimit: g('hierarchical_memsw_limit'), totalSwap: g('total_swap'),
    // Garden: usage as the limit counts it, minus what the kernel can drop at once.
    totalUsageTowardLimit: sub(usage, g('total_inactive_file')),
    anon: 0, file: 0, swapcached: 0, // cgroup v2 only
  };
}

export async function cpuStat(dirs: Map<string, string>): Promise<{ usage: U64; user: U64; system: U64 }> {
  const dir = dirs.get('cpuacct');
  if (!dir) return { usage: 0, user: 0, system: 0 };
  const usage = u64(await readText(path.join(dir, 'cpuacct.usage')));
  const stat = (await readText(path.join(dir, 'cpuacct.stat'))) ?? '';
  const ticks = (k: string) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(stat)?.[1] ?? 0);
  const ns = (t: number) => t * (1e9 / USER_HZ);
  return { usage, user: ns(ticks('user')), system: ns(ticks('system')) };
}

export async function pidStat(dirs: Map<string, string>): Promise<{ current: U64; max: U64 }> {
  const dir = dirs.get('pids');
  if (!dir) return { current: 0, max: 0 };
  return { current: u64(await readText(path.join(dir, 'pids.current'))), max: u64(await readText(path.join(dir, 'pids.max'))) };
}

export async function oomKills(dirs: Map<string, string>): Promise<number> {
  const dir = dirs.get('memory');
  const text = dir ? await readText(path.join(dir, 'memory.oom_control')) : undefined;
  return Number(/oom_kill (\d+)/.exec(text ?? '')?.[1] ?? 0);
}

/** eth0's counters inside the container; null without a network. */
export async function networkStat(pid: number): Promise<ContainerNetworkStat | null> {
  const text = await readText(`/proc/${pid}/net/dev`);
  const line = text?.split('\n').find((l) => l.trim().startsWith('eth0:'));
  if (!line) return null;
  const f = line.split(':')[1].trim().split(/\s+/);
  return { rxBytes: u64(f[0]), txBytes: u64(f[8]) };
}

/** Bytes and inodes in a directory tree (the container's overlay upper dir). */
export async function diskUsage(dir: string | undefined): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  if (!dir) return { bytes, inodes };
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      inodes++;
      try {
        const st = await fs.lstat(p);
        bytes += st.blocks * 512;
      } catch {
        continue;
      }
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

export function isUnlimited(v: U64): boolean {
  return typeof v === 'bigint' && v >= UNLIMITED_V1;
}
