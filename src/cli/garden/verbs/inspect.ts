// Looking at one container: info (state, addresses, processes, properties,
// ports, current limits) and metrics.

import type { U64 } from '../../../api/types.js';
import { parseVerb } from '../args.js';
import { formatBytes, formatDuration, printFields, printJson } from '../output.js';
import type { Verb } from '../verb.js';

/** Byte counts for people; Garden's "no limit" values (0, or near 2^63/2^64) as such. */
function bytes(n: U64 | undefined): string {
  if (n === undefined || n === 0 || n === 0n) return 'none';
  if (BigInt(n) >= 2n ** 62n) return 'unlimited';
  return formatBytes(n);
}

export const info: Verb = {
  name: 'info',
  summary: "a container's state, addresses, processes, properties, ports and limits",
  help: `usage: garden info HANDLE [--json]

Prints what the server knows about a container: state, IP addresses, running
process ids, properties, mapped ports and current limits.

      --json   print it as JSON`,
  async run(args, ctx) {
    const p = parseVerb('info', this.help, args, { json: { type: 'boolean' } }, [1, 1]);
    if (!p) return 0;
    const container = await ctx.garden().lookup(p.positionals[0]);
    const i = await container.info();
    // Not every backend reports every limit: leave out what it cannot tell.
    const [memory, cpu, disk, bandwidth] = await Promise.allSettled([
      container.currentMemoryLimits(), container.currentCPULimits(),
      container.currentDiskLimits(), container.currentBandwidthLimits(),
    ]);
    const got = <T>(r: PromiseSettledResult<T>): T | undefined => (r.status === 'fulfilled' ? r.value : undefined);
    const limits = { memory: got(memory), cpu: got(cpu), disk: got(disk), bandwidth: got(bandwidth) };
    if (p.values.json) {
      printJson({ handle: container.handle, ...i, limits });
      return 0;
    }
    const limitLines: [string, unknown][] = [];
    if (limits.memory) limitLines.push(['memory', bytes(limits.memory.limitInBytes)]);
    if (limits.cpu) {
      const weight = limits.cpu.weight || limits.cpu.limitInShares;
      limitLines.push(['cpu weight', weight ? String(weight) : 'none']);
    }
    if (limits.disk) limitLines.push(['disk', bytes(limits.disk.byteHard ?? limits.disk.byteSoft)]);
    if (limits.bandwidth) limitLines.push(['bandwidth', limits.bandwidth.rateInBytesPerSecond ? `${bytes(limits.bandwidth.rateInBytesPerSecond)}/s` : 'none']);
    printFields([
      ['handle', container.handle],
      ['state', i.state || 'unknown'],
      ['container ip', i.containerIP || '-'],
      ['host ip', i.hostIP || '-'],
      ['external ip', i.externalIP || '-'],
      ['container path', i.containerPath || '-'],
      ['processes', i.processIDs],
      ['ports', i.mappedPorts.map((m) => `${m.hostPort}->${m.containerPort}`)],
      ['properties', i.properties],
      ...(limitLines.length ? [['limits', Object.fromEntries(limitLines)] as [string, unknown]] : []),
      ...(i.events.length ? [['events', i.events] as [string, unknown]] : []),
    ]);
    return 0;
  },
};

export const metrics: Verb = {
  name: 'metrics',
  summary: "a container's memory, cpu, disk, network and pid usage",
  help: `usage: garden metrics HANDLE [--json]

Prints a container's resource usage.

      --json   print every metric the server reports, as JSON`,
  async run(args, ctx) {
    const p = parseVerb('metrics', this.help, args, { json: { type: 'boolean' } }, [1, 1]);
    if (!p) return 0;
    const m = await (await ctx.garden().lookup(p.positionals[0])).metrics();
    if (p.values.json) {
      printJson(m);
      return 0;
    }
    const ns = (n: U64) => formatDuration(Number(n) / 1e6);
    printFields([
      ['age', formatDuration(m.age)],
      ['memory', `${formatBytes(m.memoryStat.totalUsageTowardLimit)} (limit ${bytes(m.memoryStat.hierarchicalMemoryLimit)})`],
      ['cpu', `${ns(m.cpuStat.usage)} (user ${ns(m.cpuStat.user)}, system ${ns(m.cpuStat.system)})`],
      ['disk', `${formatBytes(m.diskStat.totalBytesUsed)} (${m.diskStat.totalInodesUsed} inodes), exclusive ${formatBytes(m.diskStat.exclusiveBytesUsed)}`],
      ['network', m.networkStat ? `rx ${formatBytes(m.networkStat.rxBytes)}, tx ${formatBytes(m.networkStat.txBytes)}` : 'n/a'],
      ['pids', `${m.pidStat.current} (max ${Number(m.pidStat.max) ? m.pidStat.max : 'unlimited'})`],
    ]);
    return 0;
  },
};
