// Human units on the command line: sizes (512M, 1G) and durations (30s, 5m).

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Bytes from "1024", "512K", "512M", "1G", "2GiB". */
export function parseSize(text: string): number {
  const m = SIZE.exec(text.trim());
  if (!m) throw new Error(`not a size: '${text}' (e.g. 512M, 1G)`);
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

/** Milliseconds from "30s", "5m", "1h", "250ms" or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`not a duration: '${text}' (e.g. 30s, 5m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}
