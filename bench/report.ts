// BENCHMARKS.md's table: the rows, their baselines and ratios, and the machine.

import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import type { Row } from './stats.js';

export async function machine(): Promise<string> {
  const tryRun = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return 'n/a';
    }
  };
  return [
    `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `kernel ${release()}, Node ${process.version}`,
    `Docker ${tryRun('docker', ['version', '--format', '{{.Server.Version}}'])}, ${tryRun('runc', ['--version']).split('\n')[0]}`,
  ].join('; ');
}

const LOWER_IS_BETTER = new Set(['ms', 'MiB', 'KiB/container']);

/** How many times better than the baseline, read the same way for every row. */
function better(r: Row): number {
  return LOWER_IS_BETTER.has(r.unit) ? r.baseline.median / r.median : r.median / r.baseline.median;
}

// Each issue's target for a row, as "better than baseline by at least x" or an absolute floor.
const TARGETS: Record<string, { text: string; met: (r: Row) => boolean }> = {
  'initd.spawn': { text: '≤ 1.0× the baseline\'s time (≤ 1.5× at least)', met: (r) => better(r) >= 1 },
  'initd.stdout.relayed': { text: '≥ 0.8× the baseline', met: (r) => better(r) >= 0.8 },
  'initd.stdout.direct': { text: '≥ 0.9× the baseline', met: (r) => better(r) >= 0.9 },
  'docker.create': { text: '≤ 1.1× the baseline\'s time', met: (r) => better(r) >= 1 / 1.1 },
  'docker.destroy': { text: '≤ 1.1× the baseline\'s time', met: (r) => better(r) >= 1 / 1.1 },
  'docker.spawn': { text: '≥ 40× faster', met: (r) => better(r) >= 40 },
  'docker.stdout': { text: '≥ 8× the baseline', met: (r) => better(r) >= 8 },
  'wire.spawn': { text: '≤ 2× the embedded time', met: (r) => better(r) >= 0.5 },
  'wire.stdout': { text: '≥ 1 GiB/s', met: (r) => r.median >= 1 },
  'dosh.true': { text: '≥ 5× faster', met: (r) => better(r) >= 5 },
};

export function markdown(rows: Row[], machineLine: string): string {
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on: ${machineLine}.`,
    '',
    '| row | median | p95 | baseline | baseline median | baseline p95 | vs baseline (>1 = better) | target | met | n |',
    '|---|---:|---:|---|---:|---:|---:|---|---|---:|',
    ...rows.map((r) => {
      const target = TARGETS[r.name];
      const met = target ? (target.met(r) ? 'yes' : '**no**') : '';
      return `| \`${r.name}\` | ${r.median} ${r.unit} | ${r.p95} | ${r.baseline.name} | ${r.baseline.median} ${r.unit} | ${r.baseline.p95} | ${better(r).toFixed(2)}× | ${target?.text ?? ''} | ${met} | ${r.n} |`;
    }),
  ];
  return lines.join('\n');
}
