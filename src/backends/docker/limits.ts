// Garden limits as Docker HostConfig: memory (with swap capped to the same
// figure, as Garden does), CPU shares, pids. Disk quotas only where the
// storage driver can enforce them (overlay2 on xfs with pquota); elsewhere
// they are recorded but reported as not enforced (currentDiskLimits = {}).

import type { CPULimits, DiskLimits, Limits, MemoryLimits, U64 } from '../../api/types.js';
import { InvalidSpecError } from '../../api/errors.js';

function num(v: U64 | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidSpecError(`invalid limit ${String(v)}`);
  return n > Number.MAX_SAFE_INTEGER ? 0 : n; // "unlimited"
}

export function cpuShares(cpu: CPULimits | undefined): number {
  return num(cpu?.weight) || num(cpu?.limitInShares);
}

/** Fields for HostConfig at create, and for container.update() later. */
export function hostConfigLimits(limits: Limits | undefined, swapAccounting: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  const mem = num(limits?.memory?.limitInBytes);
  if (mem > 0) {
    if (mem < 6 * 1024 * 1024) throw new InvalidSpecError(`memory limit ${mem} is below Docker's minimum of 6 MiB`);
    out.Memory = mem;
    if (swapAccounting) out.MemorySwap = mem;
  }
  const shares = cpuShares(limits?.cpu);
  if (shares > 0) out.CpuShares = Math.max(2, shares);
  const pids = num(limits?.pid?.max);
  if (pids > 0) out.PidsLimit = pids;
  return out;
}

export function diskStorageOpt(disk: DiskLimits | undefined): Record<string, string> | undefined {
  const bytes = num(disk?.byteHard) || num(disk?.byteSoft);
  return bytes > 0 ? { size: String(bytes) } : undefined;
}

export function memoryLimits(hostConfig: { Memory?: number }): MemoryLimits {
  return hostConfig.Memory ? { limitInBytes: hostConfig.Memory } : {};
}

export function cpuLimits(hostConfig: { CpuShares?: number }): CPULimits {
  return hostConfig.CpuShares ? { weight: hostConfig.CpuShares, limitInShares: hostConfig.CpuShares } : {};
}

/** Docker's error when overlay2 cannot enforce a size. */
export function isNoQuotaError(message: string): boolean {
  return /storage-?opt|pquota|quota/i.test(message);
}
