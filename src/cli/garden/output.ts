// How `garden` prints data: JSON that keeps 64-bit numbers exact (--json),
// and small aligned `key: value` blocks for people.

/** JSON.stringify, but a bigint is written as its exact digits and an Error as its message. */
export function toJson(value: unknown, indent = 2): string {
  const write = (v: unknown, pad: string): string => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) return JSON.stringify(v.message);
    if (v === undefined || typeof v === 'function') return 'null';
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
    const inner = pad + ' '.repeat(indent);
    if (Array.isArray(v)) {
      if (!v.length) return '[]';
      return `[\n${v.map((x) => inner + write(x, inner)).join(',\n')}\n${pad}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (!entries.length) return '{}';
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${write(x, inner)}`).join(',\n')}\n${pad}}`;
  };
  return write(value, '');
}

export function printJson(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}

/** `key: value` lines with the values aligned; nested objects indent. */
export function printFields(fields: [string, unknown][], pad = ''): void {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  for (const [k, v] of fields) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      process.stdout.write(`${pad}${k}:${entries.length ? '' : ' (none)'}\n`);
      if (entries.length) printFields(entries, pad + '  ');
    } else {
      const text = Array.isArray(v) ? (v.length ? v.join(', ') : '(none)') : String(v);
      process.stdout.write(`${pad}${(k + ':').padEnd(width + 1)} ${text}\n`);
    }
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number | bigint): string {
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '')} ${UNITS[u]}`;
}

/** 90061000 -> "1d 1h 1m 1s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let s = Math.floor(ms / 1000);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s || !parts.length) parts.push(`${s}s`);
  return parts.join(' ');
}
