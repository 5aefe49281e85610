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

/**
 * Runs a and b alternately, so drift on a shared machine hits both alike:
 * `block` samples of one, then of the other (a block keeps each side's
 * caches and CPUs warm for itself, as a stream of calls would). `settleMs`
 * pauses between blocks: work a heavy baseline leaves behind (the engine
 * tearing down an exec) then lands in neither measurement.
 */
export async function interleaved(
  n: number, a: () => Promise<number>, b: () => Promise<number>, opts: { block?: number; settleMs?: number } = {},
): Promise<[number[], number[]]> {
  const as: number[] = [];
  const bs: number[] = [];
  const block = opts.block ?? 1;
  const settle = () => (opts.settleMs ? new Promise((r) => setTimeout(r, opts.settleMs)) : Promise.resolve());
  for (let i = 0; as.length < n || bs.length < n; i++) {
    const order: Array<[() => Promise<number>, number[]]> = i % 2 === 0 ? [[a, as], [b, bs]] : [[b, bs], [a, as]];
    for (const [f, out] of order) {
      for (let k = 0; k < block && out.length < n; k++) out.push(await f());
      await settle();
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
