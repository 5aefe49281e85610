// `npm run bench [-- --json] [-- --only PREFIX] [-- --markdown]`: every
// benchmark row, each with its baseline measured in the same run.

import { parseArgs } from 'node:util';
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
// Each group's module is loaded only when it runs: the init-d rows measure
// init-d and its client, not a heap that already holds dockerode (whose
// presence alone makes V8 collect far more often under a stream of buffers).
type Rows = (only: (name: string) => boolean) => Promise<Row[]>;
const groups: Array<[string, () => Promise<Rows>]> = [
  ['initd.', async () => (await import('./initd.js')).initdRows],
  ['wire.', async () => (await import('./wire.js')).wireRows],
  ['docker.', async () => (await import('./docker.js')).dockerRows],
  ['dosh.', async () => (await import('./cli.js')).cliRows],
];

const rows: Row[] = [];
for (const [prefix, load] of groups) {
  if (prefixes.length && !prefixes.some((p) => prefix.startsWith(p) || p.startsWith(prefix))) continue;
  const got = await (await load())(only);
  rows.push(...got);
  if (!values.json && !values.markdown)
    for (const r of got)
      console.log(`${r.name.padEnd(24)} median ${r.median} ${r.unit} (p95 ${r.p95})   baseline ${r.baseline.median} ${r.unit} (p95 ${r.baseline.p95}): ${r.baseline.name}`);
}

if (values.json) console.log(JSON.stringify(rows));
else if (values.markdown) console.log(markdown(rows, await machine()));
