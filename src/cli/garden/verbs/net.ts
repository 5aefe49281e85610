// Networking: net-in (map a host port to a container port) and net-out
// (allow outbound traffic by rule).

import { type IPRange, type NetOutRule, type PortRange, Protocol } from '../../../api/types.js';
import { UsageError, parseCount, parseVerb } from '../args.js';
import { printFields, printJson } from '../output.js';
import type { Verb } from '../verb.js';

export const netIn: Verb = {
  name: 'net-in',
  summary: 'map a host port to a container port',
  help: `usage: garden net-in HANDLE [--host-port N] [--container-port N] [--json]

Forwards a port of the host to a port of the container and prints the pair.

  -H, --host-port N        the host's port (default: the server picks a free one)
  -p, --container-port N   the container's port (default: the same as the host's)
      --json               print {"hostPort": N, "containerPort": N}`,
  async run(args, ctx) {
    const p = parseVerb('net-in', this.help, args, {
      'host-port': { type: 'string', short: 'H' },
      'container-port': { type: 'string', short: 'p' },
      json: { type: 'boolean' },
    }, [1, 1]);
    if (!p) return 0;
    const host = parseCount('--host-port', p.values['host-port'] ?? '0', 65535);
    const cont = parseCount('--container-port', p.values['container-port'] ?? '0', 65535);
    const m = await (await ctx.garden().lookup(p.positionals[0])).netIn(host, cont);
    if (p.values.json) printJson(m);
    else printFields([['host port', m.hostPort], ['container port', m.containerPort]]);
    return 0;
  },
};

const PROTOCOLS: Record<string, Protocol> = {
  all: Protocol.All, tcp: Protocol.TCP, udp: Protocol.UDP, icmp: Protocol.ICMP, icmpv6: Protocol.ICMPv6,
};

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipToInt(ip: string): number | null {
  const m = IPV4.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((x) => x > 255)) return null;
  return parts.reduce((a, b) => a * 256 + b, 0);
}

const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** `10.0.0.1`, `10.0.0.1-10.0.0.9` or `10.0.0.0/24` as a Garden IP range. */
export function parseNetwork(text: string): IPRange {
  const bad = () => new UsageError(`--network wants IP, IP-IP or IP/BITS, got '${text}'`);
  const cidr = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (cidr) {
    const base = ipToInt(cidr[1]);
    const bits = Number(cidr[2]);
    if (base === null || bits > 32) throw bad();
    const size = 2 ** (32 - bits);
    const start = Math.floor(base / size) * size;
    return { start: intToIp(start), end: intToIp(start + size - 1) };
  }
  const [a, b, ...rest] = text.split('-');
  if (rest.length || ipToInt(a) === null || (b !== undefined && ipToInt(b) === null)) throw bad();
  return { start: a, end: b ?? a };
}

/** `80` or `8000-8080`. */
export function parsePorts(text: string): PortRange {
  const [a, b, ...rest] = text.split('-');
  if (rest.length) throw new UsageError(`--port wants N or N-M, got '${text}'`);
  const start = parseCount('--port', a, 65535);
  const end = b === undefined ? start : parseCount('--port', b, 65535);
  if (end < start) throw new UsageError(`--port wants N or N-M with N <= M, got '${text}'`);
  return { start, end };
}

export const netOut: Verb = {
  name: 'net-out',
  summary: 'allow outbound traffic from a container',
  help: `usage: garden net-out HANDLE [flags]

Adds a rule allowing traffic out of the container. Without flags: everything.

      --protocol P        all (default), tcp, udp, icmp or icmpv6
      --network NET       destination IP, IP-IP range or CIDR (repeatable; default: anywhere)
      --port N[-M]        destination port or range, tcp/udp only (repeatable)
      --icmp-type N       icmp only: the type allowed
      --icmp-code N       icmp only: the code allowed (default: any)
      --log               log the connections this rule allows`,
  async run(args, ctx) {
    const p = parseVerb('net-out', this.help, args, {
      protocol: { type: 'string' },
      network: { type: 'string', multiple: true },
      port: { type: 'string', multiple: true },
      'icmp-type': { type: 'string' },
      'icmp-code': { type: 'string' },
      log: { type: 'boolean' },
    }, [1, 1]);
    if (!p) return 0;
    const v = p.values;
    const protocol = PROTOCOLS[(v.protocol ?? 'all').toLowerCase()];
    if (protocol === undefined) throw new UsageError(`net-out: --protocol wants all, tcp, udp, icmp or icmpv6, got '${v.protocol}'`);
    const rule: NetOutRule = { protocol };
    if (v.network?.length) rule.networks = v.network.map(parseNetwork);
    if (v.port?.length) {
      if (protocol !== Protocol.TCP && protocol !== Protocol.UDP) throw new UsageError('net-out: --port needs --protocol tcp or udp');
      rule.ports = v.port.map(parsePorts);
    }
    if (v['icmp-type'] !== undefined || v['icmp-code'] !== undefined) {
      if (protocol !== Protocol.ICMP && protocol !== Protocol.ICMPv6) throw new UsageError('net-out: --icmp-type/--icmp-code need --protocol icmp');
      if (v['icmp-type'] === undefined) throw new UsageError('net-out: --icmp-code needs --icmp-type');
      rule.icmps = { type: parseCount('--icmp-type', v['icmp-type'], 255) };
      if (v['icmp-code'] !== undefined) rule.icmps.code = parseCount('--icmp-code', v['icmp-code'], 255);
    }
    if (v.log) rule.log = true;
    await (await ctx.garden().lookup(p.positionals[0])).netOut(rule);
    return 0;
  },
};
