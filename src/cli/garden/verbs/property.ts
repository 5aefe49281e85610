// `garden property get|set|rm|list`: a container's key/value properties.

import { UsageError, parseVerb } from '../args.js';
import { printJson } from '../output.js';
import type { Verb, VerbContext } from '../verb.js';

const HELP = `usage: garden property get|set|rm|list HANDLE ...

Reads and changes a container's properties.

  garden property get HANDLE KEY          print the value
  garden property set HANDLE KEY VALUE    set it (also: KEY=VALUE)
  garden property rm HANDLE KEY...        remove keys
  garden property list HANDLE [--json]    print every KEY=VALUE

Run 'garden property SUBCOMMAND --help' for one of them.`;

interface Sub {
  help: string;
  arity: [number, number];
  json?: boolean;
  run(ctx: VerbContext, handle: string, rest: string[], json: boolean): Promise<void>;
}

const SUBS: Record<string, Sub> = {
  get: {
    help: 'usage: garden property get HANDLE KEY\n\nPrints the value of property KEY; fails if the container has no such property.',
    arity: [2, 2],
    async run(ctx, handle, [key]) {
      const value = await (await ctx.garden().lookup(handle)).property(key);
      process.stdout.write(value + '\n');
    },
  },
  set: {
    help: 'usage: garden property set HANDLE KEY VALUE\n\nSets property KEY to VALUE (KEY=VALUE as one argument works too).',
    arity: [2, 3],
    async run(ctx, handle, rest) {
      let key: string;
      let value: string;
      if (rest.length === 2) [key, value] = rest;
      else {
        const i = rest[0].indexOf('=');
        if (i <= 0) throw new UsageError('property set: want KEY VALUE or KEY=VALUE');
        [key, value] = [rest[0].slice(0, i), rest[0].slice(i + 1)];
      }
      await (await ctx.garden().lookup(handle)).setProperty(key, value);
    },
  },
  rm: {
    help: 'usage: garden property rm HANDLE KEY...\n\nRemoves the given properties.',
    arity: [2, Infinity],
    async run(ctx, handle, keys) {
      const c = await ctx.garden().lookup(handle);
      for (const k of keys) await c.removeProperty(k);
    },
  },
  list: {
    help: 'usage: garden property list HANDLE [--json]\n\nPrints every property as KEY=VALUE, sorted.\n\n      --json   print them as a JSON object',
    arity: [1, 1],
    json: true,
    async run(ctx, handle, _rest, json) {
      const props = await (await ctx.garden().lookup(handle)).properties();
      if (json) printJson(props);
      else for (const k of Object.keys(props).sort()) process.stdout.write(`${k}=${props[k]}\n`);
    },
  },
};

export const property: Verb = {
  name: 'property',
  summary: "get, set, remove or list a container's properties",
  help: HELP,
  async run(args, ctx) {
    const [name, ...rest] = args;
    if (name === undefined || name === '-h' || name === '--help') {
      if (name === undefined) throw new UsageError("property: which one? get, set, rm or list (see 'garden property --help')");
      process.stdout.write(HELP + '\n');
      return 0;
    }
    const sub = SUBS[name === 'remove' || name === 'delete' ? 'rm' : name];
    if (!sub) throw new UsageError(`property: unknown subcommand '${name}' (want get, set, rm or list)`);
    const options: Record<string, { type: 'boolean' }> = sub.json ? { json: { type: 'boolean' } } : {};
    const p = parseVerb(`property ${name}`, sub.help, rest, options, [sub.arity[0], sub.arity[1]]);
    if (!p) return 0;
    const [handle, ...more] = p.positionals;
    await sub.run(ctx, handle, more, (p.values as { json?: boolean }).json ?? false);
    return 0;
  },
};
