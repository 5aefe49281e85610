// The 28 routes (protocol §5, §11), shared by the server's router and the
// client's request builder.

export type RouteName =
  | 'Ping' | 'Capacity' | 'List' | 'Create' | 'Info' | 'BulkInfo' | 'BulkMetrics' | 'Destroy'
  | 'Stop' | 'StreamIn' | 'StreamOut' | 'CurrentBandwidthLimits' | 'CurrentCPULimits'
  | 'CurrentDiskLimits' | 'CurrentMemoryLimits' | 'NetIn' | 'NetOut' | 'BulkNetOut' | 'Run'
  | 'Attach' | 'Stdout' | 'Stderr' | 'SetGraceTime' | 'Properties' | 'Property' | 'SetProperty'
  | 'RemoveProperty' | 'Metrics';

export interface Route { name: RouteName; method: string; path: string; segments: string[] }

const TABLE: [RouteName, string, string][] = [
  ['Ping', 'GET', '/ping'],
  ['Capacity', 'GET', '/capacity'],
  ['List', 'GET', '/containers'],
  ['Create', 'POST', '/containers'],
  ['Info', 'GET', '/containers/:handle/info'],
  ['BulkInfo', 'GET', '/containers/bulk_info'],
  ['BulkMetrics', 'GET', '/containers/bulk_metrics'],
  ['Destroy', 'DELETE', '/containers/:handle'],
  ['Stop', 'PUT', '/containers/:handle/stop'],
  ['StreamIn', 'PUT', '/containers/:handle/files'],
  ['StreamOut', 'GET', '/containers/:handle/files'],
  ['CurrentBandwidthLimits', 'GET', '/containers/:handle/limits/bandwidth'],
  ['CurrentCPULimits', 'GET', '/containers/:handle/limits/cpu'],
  ['CurrentDiskLimits', 'GET', '/containers/:handle/limits/disk'],
  ['CurrentMemoryLimits', 'GET', '/containers/:handle/limits/memory'],
  ['NetIn', 'POST', '/containers/:handle/net/in'],
  ['NetOut', 'POST', '/containers/:handle/net/out'],
  ['BulkNetOut', 'POST', '/containers/:handle/net/out/bulk'],
  ['Run', 'POST', '/containers/:handle/processes'],
  ['Attach', 'GET', '/containers/:handle/processes/:pid'],
  ['Stdout', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stdout'],
  ['Stderr', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stderr'],
  ['SetGraceTime', 'PUT', '/containers/:handle/grace_time'],
  ['Properties', 'GET', '/containers/:handle/properties'],
  ['Property', 'GET', '/containers/:handle/properties/:key'],
  ['SetProperty', 'PUT', '/containers/:handle/properties/:key'],
  ['RemoveProperty', 'DELETE', '/containers/:handle/properties/:key'],
  ['Metrics', 'GET', '/containers/:handle/metrics'],
];

export const ROUTES: Route[] = TABLE.map(([name, method, path]) => ({ name, method, path, segments: path.split('/').slice(1) }));
export const ROUTE_BY_NAME = new Map(ROUTES.map((r) => [r.name, r]));

/** The routes served on a raw (hijacked) connection. */
export const HIJACKED: ReadonlySet<RouteName> = new Set(['Run', 'Attach', 'Stdout', 'Stderr']);

export type Params = Record<string, string>;

/** Builds a path; every parameter is fully percent-encoded (`/`, `+`, `%` too). */
export function buildPath(name: RouteName, params: Params = {}): string {
  const route = ROUTE_BY_NAME.get(name)!;
  return '/' + route.segments
    .map((s) => (s.startsWith(':') ? encodeURIComponent(params[s.slice(1)] ?? '') : s))
    .join('/');
}

/** Query string as Go's url.Values.Encode writes it: sorted keys, form encoding. */
export function buildQuery(q: Record<string, string>): string {
  const keys = Object.keys(q).sort();
  if (keys.length === 0) return '';
  return '?' + keys.map((k) => formEscape(k) + '=' + formEscape(q[k])).join('&');
}

function formEscape(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** %XX only; `+` stays literal (§1.4 recommendation). Null on a bad escape. */
export function decodeSegment(s: string): string | null {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Not UTF-8 after decoding, or a stray `%`: decode byte-wise, lossy.
    if (/%(?![0-9a-fA-F]{2})/.test(s)) return null;
    const bytes: number[] = [];
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '%') { bytes.push(parseInt(s.slice(i + 1, i + 3), 16)); i += 2; } else bytes.push(...Buffer.from(s[i]));
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

export type Match =
  | { kind: 'found'; route: Route; params: Params }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' }
  | { kind: 'bad'; message: string };

/** Matches a raw path (no query) against the table. */
export function matchRoute(method: string, rawPath: string): Match {
  if (!rawPath.startsWith('/')) return { kind: 'none' };
  const parts = rawPath.split('/').slice(1);
  const allow: string[] = [];
  for (const route of ROUTES) {
    if (route.segments.length !== parts.length) continue;
    const params: Params = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const seg = route.segments[i];
      if (seg.startsWith(':')) {
        if (parts[i] === '') ok = false;
        else params[seg.slice(1)] = parts[i];
      } else if (seg !== parts[i]) ok = false;
    }
    if (!ok) continue;
    if (route.method !== method) {
      if (!allow.includes(route.method)) allow.push(route.method);
      continue;
    }
    for (const k of Object.keys(params)) {
      const d = decodeSegment(params[k]);
      if (d === null) return { kind: 'bad', message: `invalid URL escape in ${JSON.stringify(params[k])}` };
      params[k] = d;
    }
    return { kind: 'found', route, params };
  }
  return allow.length ? { kind: 'method', allow } : { kind: 'none' };
}
