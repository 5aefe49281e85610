// `npm run bench [-- --json] [-- --only PREFIX] [-- --markdown]`: every
// benchmark row, each with its baseline measured in the same run.

import { parseArgs } from 'node:util';
import { dockerRows } from './docker.js';
import { initdRows } from './initd.js';
import { wireRows } from './wire.js';
import { cliRows } from './cli.js';
import { machine, markdown } from './report.js';
import type { Row } from './stats.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run bench -- [--json | --markdown] [--only PREFIX]...');
  process.exit(0);
}

const prefixes = values.only ?? [];
const only = (name: string) => prefixes.length === 0 || prefixes.some((p) => name.startsWith(p));
const groups: Array<[string, (only: (name: string) => boolean) => Promise<Row[]>]> = [
  ['initd.', initdRows],
  ['wire.', wireRows],
  ['docker.', dockerRows],
  ['dosh.', cliRows],
];

const rows: Row[] = [];
for (const [prefix, run] of groups) {
  if (prefixes.length && !prefixes.some((p) => prefix.startsWith(p) || p.startsWith(prefix))) continue;
  const got = await run(only);
  rows.push(...got);
  if (!values.json && !values.markdown)
    for (const r of got)
      console.log(`${r.name.padEnd(24)} median ${r.median} ${r.unit} (p95 ${r.p95})   baseline ${r.baseline.median} ${r.unit} (p95 ${r.baseline.p95}): ${r.baseline.name}`);
}

if (values.json) console.log(JSON.stringify(rows));
else if (values.markdown) console.log(markdown(rows, await machine()));
