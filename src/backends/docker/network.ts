// Net-in and net-out in the kernel, as Garden does: DNAT rules for mapped
// ports (also reachable from the host itself on 127.0.0.1), a per-container
// filter chain that rejects everything the container sends unless a NetOut
// rule allows it, and tc shaping on the container's host-side veth. Every
// rule carries the container name as its iptables comment, so destroy (and
// open's clean-up of half-created containers) finds them all.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { GardenError, InvalidSpecError } from '../../api/errors.js';
import { Protocol, type BandwidthLimits, type NetOutRule, type PortMapping } from '../../api/types.js';

const exec = promisify(execFile);

export const NAT_CHAIN = 'NG-NETIN';
export const NAT_POST_CHAIN = 'NG-NETIN-POST';
export const PORT_POOL = { start: 61001, end: 65534 };

async function cmd(file: string, args: string[]): Promise<string> {
  try {
    return (await exec(file, args, { maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new GardenError(`${file} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`, 'network_error');
  }
}

function ipt(table: string, args: string[]): Promise<string> {
  return cmd('iptables', ['-w', '-t', table, ...args]);
}

async function exists(table: string, args: string[]): Promise<boolean> {
  try {
    await ipt(table, args);
    return true;
  } catch {
    return false;
  }
}

async function ensureChain(table: string, chain: string): Promise<void> {
  if (!(await exists(table, ['-n', '-L', chain]))) await ipt(table, ['-N', chain]).catch(async (err) => {
    if (!(await exists(table, ['-n', '-L', chain]))) throw err; // a concurrent creator is fine
  });
}

async function ensureRule(table: string, chain: string, rule: string[], insert = false): Promise<void> {
  if (!(await exists(table, ['-C', chain, ...rule]))) await ipt(table, [insert ? '-I' : '-A', chain, ...rule]);
}

export function outChain(name: string): string {
  return `NG-O-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

const comment = (name: string) => ['-m', 'comment', '--comment', name];

export interface NetworkHost {
  /** Bridge the engine's network uses (docker0 for "bridge"). */
  bridge: string;
  /** The filter chain Docker evaluates first in FORWARD (DOCKER-USER), or FORWARD itself. */
  forwardChain: string;
}

let natReady: Promise<void> | undefined;

/** Shared NAT chains for net-in; idempotent. */
export function ensureNat(bridge: string): Promise<void> {
  natReady ??= (async () => {
    await ensureChain('nat', NAT_CHAIN);
    await ensureChain('nat', NAT_POST_CHAIN);
    await ensureRule('nat', 'PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', NAT_CHAIN], true);
    await ensureRule('nat', 'OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', NAT_CHAIN], true);
    await ensureRule('nat', 'POSTROUTING', ['-j', NAT_POST_CHAIN], true);
  })().catch((err) => {
    natReady = undefined;
    throw err;
  });
  return natReady.then(() =>
    // 127.0.0.1 -> container needs loopback sources routable on the bridge.
    cmd('sysctl', ['-q', '-w', `net.ipv4.conf.${bridge}.route_localnet=1`]).then(() => {}));
}

export async function detectHost(bridge: string): Promise<NetworkHost> {
  const forwardChain = (await exists('filter', ['-n', '-L', 'DOCKER-USER'])) ? 'DOCKER-USER' : 'FORWARD';
  return { bridge, forwardChain };
}

/** Net-out: reject everything the container sends except replies, until rules allow it. */
export async function setupNetOut(host: NetworkHost, name: string, ip: string): Promise<void> {
  const chain = outChain(name);
  await ensureChain('filter', chain);
  await ipt('filter', ['-F', chain]);
  await ipt('filter', ['-A', chain, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'RETURN']);
  await ipt('filter', ['-A', chain, '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable']);
  for (const parent of [host.forwardChain, 'INPUT']) {
    await dropStaleJumps(parent, ip, chain);
    await ensureRule('filter', parent, ['-s', `${ip}/32`, ...comment(name), '-j', chain], true);
  }
}

/**
 * An address is reused as soon as the engine frees it, which can be before a
 * destroyed container's rules are gone. Its jump would still send our traffic
 * into its chain, whose REJECT would undo what our rules allow.
 */
async function dropStaleJumps(parent: string, ip: string, ours: string): Promise<void> {
  const listing = await ipt('filter', ['-S', parent]);
  for (const line of listing.split('\n')) {
    const words = line.split(/\s+/);
    const target = words[words.indexOf('-j') + 1] ?? '';
    if (!line.startsWith('-A ') || !words.includes(`${ip}/32`) || !target.startsWith('NG-O-') || target === ours) continue;
    await ipt('filter', ['-D', parent, ...words.slice(2).map((a) => a.replace(/^"(.*)"$/, '$1'))]).catch(() => {});
  }
}

export function validateNetOut(rule: NetOutRule): void {
  const proto = rule.protocol ?? Protocol.All;
  if (!(proto in Protocol)) throw new InvalidSpecError(`invalid protocol ${proto}`);
  if (rule.ports?.length && proto !== Protocol.TCP && proto !== Protocol.UDP)
    throw new InvalidSpecError('ports can only be given for tcp or udp rules');
  if (rule.icmps && proto !== Protocol.ICMP) throw new InvalidSpecError('icmp type/code can only be given for icmp rules');
  for (const r of rule.networks ?? []) {
    for (const a of [r.start, r.end]) if (a && !net.isIP(a)) throw new InvalidSpecError(`invalid IP address ${a}`);
  }
  for (const p of rule.ports ?? []) {
    const s = p.start ?? 0, e = p.end ?? s;
    if (s < 0 || e > 65535 || e < s) throw new InvalidSpecError(`invalid port range ${s}-${e}`);
  }
}

/** iptables argument lists for one Garden rule (IPv4 only; IPv6 ranges and ICMPv6 allow nothing here). */
export function netOutArgs(rule: NetOutRule): string[][] {
  const proto = rule.protocol ?? Protocol.All;
  if (proto === Protocol.ICMPv6) return [];
  const protoArgs = proto === Protocol.TCP ? ['-p', 'tcp'] : proto === Protocol.UDP ? ['-p', 'udp'] : proto === Protocol.ICMP ? ['-p', 'icmp'] : [];
  let nets: string[][] = [[]];
  if (rule.networks?.length) {
    nets = rule.networks
      .filter((r) => net.isIPv4(r.start || r.end || '0.0.0.0'))
      .map((r) => ['-m', 'iprange', '--dst-range', `${r.start || r.end}-${r.end || r.start}`]);
    if (nets.length === 0) return [];
  }
  let ports: string[][] = [[]];
  if (rule.ports?.length) ports = rule.ports.map((p) => ['--dport', `${p.start ?? 0}:${p.end ?? p.start ?? 0}`]);
  let icmp: string[] = [];
  if (proto === Protocol.ICMP && rule.icmps) icmp = ['--icmp-type', rule.icmps.code === undefined ? String(rule.icmps.type) : `${rule.icmps.type}/${rule.icmps.code}`];
  const out: string[][] = [];
  for (const n of nets) for (const p of ports) out.push([...protoArgs, ...n, ...p, ...icmp]);
  return out;
}

export async function addNetOut(name: string, rules: NetOutRule[]): Promise<void> {
  const chain = outChain(name);
  for (const rule of rules) {
    for (const args of netOutArgs(rule)) {
      // After the conntrack rule, before the final REJECT: later rules simply add to what is allowed.
      await ipt('filter', ['-I', chain, '2', ...args, '-j', 'RETURN']);
      const proto = rule.protocol ?? Protocol.All;
      if (rule.log && (proto === Protocol.TCP || proto === Protocol.All))
        await ipt('filter', ['-I', chain, '2', ...args, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'LOG', '--log-prefix', `${chain.slice(0, 20)} `]);
    }
  }
}

/** The three rules of one net-in mapping: [table, chain, rule, insert?]. */
function netInRules(host: NetworkHost, name: string, ip: string, m: PortMapping): Array<[string, string, string[], boolean]> {
  return [
    ['nat', NAT_CHAIN, ['-p', 'tcp', '--dport', String(m.hostPort), ...comment(name), '-j', 'DNAT', '--to-destination', `${ip}:${m.containerPort}`], false],
    ['nat', NAT_POST_CHAIN, ['-s', '127.0.0.0/8', '-d', `${ip}/32`, '-p', 'tcp', '--dport', String(m.containerPort), ...comment(name), '-j', 'MASQUERADE'], false],
    // Connections from other hosts are forwarded; Docker's FORWARD policy would drop them.
    ['filter', host.forwardChain, ['-d', `${ip}/32`, '-p', 'tcp', '--dport', String(m.containerPort), ...comment(name), '-j', 'ACCEPT'], true],
  ];
}

export async function addNetIn(host: NetworkHost, name: string, ip: string, m: PortMapping): Promise<void> {
  await ensureNat(host.bridge);
  for (const [table, chain, rule, insert] of netInRules(host, name, ip, m)) await ipt(table, [insert ? '-I' : '-A', chain, ...rule]);
}

/**
 * Puts back whatever of a container's rules is missing (after a host-side
 * flush, say): net-in mappings rule by rule, the net-out chain whole.
 * Returns how many pieces were restored.
 */
export async function ensureNetwork(host: NetworkHost, name: string, ip: string, netIn: PortMapping[], netOut: NetOutRule[]): Promise<number> {
  let restored = 0;
  if (netIn.length) {
    natReady = undefined; // the shared chains may have gone too
    await ensureNat(host.bridge);
  }
  for (const m of netIn) {
    for (const [table, chain, rule, insert] of netInRules(host, name, ip, m)) {
      if (await exists(table, ['-C', chain, ...rule])) continue;
      await ipt(table, [insert ? '-I' : '-A', chain, ...rule]);
      restored++;
    }
  }
  const chain = outChain(name);
  const jumps = [host.forwardChain, 'INPUT'].map((parent) => [parent, ['-s', `${ip}/32`, ...comment(name), '-j', chain]] as const);
  let whole = await exists('filter', ['-C', chain, '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable']);
  for (const [parent, rule] of jumps) whole &&= await exists('filter', ['-C', parent, ...rule]);
  if (!whole) {
    for (const [parent, rule] of jumps) await ipt('filter', ['-D', parent, ...rule]).catch(() => {});
    await setupNetOut(host, name, ip);
    await addNetOut(name, netOut);
    restored++;
  }
  return restored;
}

/** Removes every rule and chain made for this container name. */
export async function cleanupNetwork(host: NetworkHost | undefined, name: string): Promise<void> {
  const places: Array<[string, string]> = [['nat', NAT_CHAIN], ['nat', NAT_POST_CHAIN], ['filter', 'INPUT'], ['filter', 'FORWARD']];
  if (host?.forwardChain && host.forwardChain !== 'FORWARD') places.push(['filter', host.forwardChain]);
  for (const [table, chain] of places) {
    let listing: string;
    try {
      listing = await ipt(table, ['-S', chain]);
    } catch {
      continue;
    }
    for (const line of listing.split('\n')) {
      if (!line.startsWith('-A ') || !line.split(/\s+/).includes(name)) continue;
      const args = line.split(/\s+/).slice(2).map((a) => a.replace(/^"(.*)"$/, '$1'));
      await ipt(table, ['-D', chain, ...args]).catch(() => {});
    }
  }
  const chain = outChain(name);
  if (await exists('filter', ['-n', '-L', chain])) {
    await ipt('filter', ['-F', chain]).catch(() => {});
    await ipt('filter', ['-X', chain]).catch(() => {});
  }
}

/** A free host port from the pool: not mapped by us, and bindable on the host. */
export async function allocatePort(used: Set<number>): Promise<number> {
  const span = PORT_POOL.end - PORT_POOL.start + 1;
  const first = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = PORT_POOL.start + ((first + i) % span);
    if (used.has(port)) continue;
    if (await bindable(port)) return port;
  }
  throw new GardenError('no free host port in the pool', 'port_pool_exhausted');
}

export function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** The host side of the container's eth0 (found through its peer ifindex). */
export async function hostVeth(pid: number): Promise<string> {
  const inside = await cmd('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'eth0']);
  const peer = /eth0@if(\d+)/.exec(inside)?.[1];
  if (!peer) throw new GardenError('container has no veth (network none?)', 'network_error');
  const all = await cmd('ip', ['-o', 'link']);
  const line = all.split('\n').find((l) => l.startsWith(`${peer}: `));
  const name = line?.split(':')[1]?.trim().replace(/@.*$/, '');
  if (!name) throw new GardenError(`host veth with ifindex ${peer} not found`, 'network_error');
  return name;
}

/**
 * Shapes traffic both ways with a token bucket: on the host veth (traffic to
 * the container) and on the container's eth0 (traffic from it). No policer,
 * no ifb: plain tbf works on kernels without act_police.
 */
export async function setBandwidth(veth: string, pid: number, limits: BandwidthLimits): Promise<void> {
  const rate = Number(limits.rateInBytesPerSecond ?? 0);
  const burst = Number(limits.burstRateInBytesPerSecond ?? 0);
  const inNs = (args: string[]) => cmd('nsenter', ['-t', String(pid), '-n', 'tc', ...args]);
  const onHost = (args: string[]) => cmd('tc', args);
  if (!(rate > 0)) {
    await onHost(['qdisc', 'del', 'dev', veth, 'root']).catch(() => {});
    await inNs(['qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {});
    return;
  }
  // tbf needs a bucket of at least one MTU-sized packet plus rate/HZ.
  const b = String(Math.max(burst, Math.ceil(rate / 250), 1600));
  const tbf = ['root', 'tbf', 'rate', `${Math.round(rate * 8)}bit`, 'burst', b, 'latency', '25ms'];
  await onHost(['qdisc', 'replace', 'dev', veth, ...tbf]);
  await inNs(['qdisc', 'replace', 'dev', 'eth0', ...tbf]);
}
