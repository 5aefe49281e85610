// `garden list`: handles, filtered by properties.

import { parseKV, parseVerb } from '../args.js';
import { printJson } from '../output.js';
import type { Verb } from '../verb.js';

export const list: Verb = {
  name: 'list',
  summary: 'list containers (optionally those with given properties)',
  help: `usage: garden list [--property K=V]... [--json]

Prints the handle of every container, one a line.

      --property K=V   only containers with this property (repeatable: all must match)
  -v, --verbose        also print each container's state and properties
      --json           print a JSON array of {handle, state, properties}`,
  async run(args, ctx) {
    const p = parseVerb('list', this.help, args, {
      property: { type: 'string', multiple: true },
      verbose: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
    }, [0, 0]);
    if (!p) return 0;
    const filter = Object.fromEntries((p.values.property ?? []).map((kv) => parseKV('--property', kv)));
    const garden = ctx.garden();
    const handles = (await garden.containers(filter)).map((c) => c.handle).sort();
    if (!p.values.json && !p.values.verbose) {
      process.stdout.write(handles.map((h) => h + '\n').join(''));
      return 0;
    }
    const infos = handles.length ? await garden.bulkInfo(handles) : {};
    const rows = handles.map((handle) => {
      const e = infos[handle];
      if (!e?.info) return { handle, error: e?.error?.message ?? 'no info' };
      return { handle, state: e.info.state, properties: e.info.properties };
    });
    if (p.values.json) printJson(rows);
    else {
      for (const r of rows) {
        const props = 'properties' in r ? Object.entries(r.properties ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(' ') : '';
        process.stdout.write(`${r.handle}\t${'error' in r ? `error: ${r.error}` : r.state}${props ? '\t' + props : ''}\n`);
      }
    }
    return 0;
  },
};
