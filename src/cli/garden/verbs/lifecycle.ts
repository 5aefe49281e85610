// Ending containers: stop (processes only) and destroy.

import { parseVerb } from '../args.js';
import type { Verb } from '../verb.js';

export const destroy: Verb = {
  name: 'destroy',
  summary: 'destroy containers',
  help: `usage: garden destroy HANDLE...

Destroys each container: its processes are killed and its files removed.
Stops at the first failure.`,
  async run(args, ctx) {
    const p = parseVerb('destroy', this.help, args, {}, [1, Infinity]);
    if (!p) return 0;
    for (const handle of p.positionals) await ctx.garden().destroy(handle);
    return 0;
  },
};

export const stop: Verb = {
  name: 'stop',
  summary: "stop a container's processes (the container stays)",
  help: `usage: garden stop HANDLE [--kill]

Stops every process in the container: SIGTERM, then SIGKILL after 10
seconds. The container itself stays (see destroy).

  -k, --kill   send SIGKILL at once`,
  async run(args, ctx) {
    const p = parseVerb('stop', this.help, args, { kill: { type: 'boolean', short: 'k' } }, [1, 1]);
    if (!p) return 0;
    await (await ctx.garden().lookup(p.positionals[0])).stop(p.values.kill ?? false);
    return 0;
  },
};
