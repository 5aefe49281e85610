// Medians and percentiles of samples, and the row shape `--json` prints.

export interface Row {
  name: string;
  unit: string;
  n: number;
  median: number;
  p95: number;
  baseline: { name: string; median: number; p95: number };
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at];
}

export function row(name: string, unit: string, samples: number[], baselineName: string, baseline: number[]): Row {
  const round = (v: number) => Number(v.toPrecision(4));
  return {
    name,
    unit,
    n: samples.length,
    median: round(percentile(samples, 50)),
    p95: round(percentile(samples, 95)),
    baseline: { name: baselineName, median: round(percentile(baseline, 50)), p95: round(percentile(baseline, 95)) },
  };
}

/** Runs a and b alternately, so drift on a shared machine hits both alike. */
export async function interleaved(n: number, a: () => Promise<number>, b: () => Promise<number>): Promise<[number[], number[]]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return [as, bs];
}

export function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function gibps(bytes: number, start: bigint): number {
  return bytes / (1 << 30) / (Number(process.hrtime.bigint() - start) / 1e9);
}
