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

// A ratio that reads the same way for every row: how many times better than the baseline.
function better(r: Row): string {
  const x = r.unit === 'ms' || r.unit === 'MiB' ? r.baseline.median / r.median : r.median / r.baseline.median;
  return `${x.toFixed(2)}×`;
}

export function markdown(rows: Row[], machineLine: string): string {
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on: ${machineLine}.`,
    '',
    '| row | median | p95 | baseline | baseline median | baseline p95 | vs baseline (>1 = better) | n |',
    '|---|---:|---:|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| \`${r.name}\` | ${r.median} ${r.unit} | ${r.p95} | ${r.baseline.name} | ${r.baseline.median} ${r.unit} | ${r.baseline.p95} | ${better(r)} | ${r.n} |`),
  ];
  return lines.join('\n');
}
