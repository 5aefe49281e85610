// Verbs about the server itself: ping, capacity.

import { parseVerb } from '../args.js';
import { formatBytes, printFields, printJson } from '../output.js';
import type { Verb } from '../verb.js';

export const ping: Verb = {
  name: 'ping',
  summary: 'check that the server answers (exit 0) or say why not',
  help: `usage: garden ping

Asks the server whether it and its backend are healthy. Prints nothing and
exits 0 when they are; prints the reason and exits 1 when not.`,
  async run(args, ctx) {
    if (!parseVerb('ping', this.help, args, {}, [0, 0])) return 0;
    await ctx.garden().ping();
    return 0;
  },
};

export const capacity: Verb = {
  name: 'capacity',
  summary: 'memory, disk and container count the server offers',
  help: `usage: garden capacity [--json]

Prints the server's capacity: memory, disk, schedulable disk, max containers.

      --json   print it as JSON (exact byte counts)`,
  async run(args, ctx) {
    const p = parseVerb('capacity', this.help, args, { json: { type: 'boolean' } }, [0, 0]);
    if (!p) return 0;
    const c = await ctx.garden().capacity();
    if (p.values.json) printJson(c);
    else {
      printFields([
        ['memory', `${formatBytes(c.memoryInBytes)} (${c.memoryInBytes} bytes)`],
        ['disk', `${formatBytes(c.diskInBytes)} (${c.diskInBytes} bytes)`],
        ['schedulable disk', `${formatBytes(c.schedulableDiskInBytes)} (${c.schedulableDiskInBytes} bytes)`],
        ['max containers', c.maxContainers],
      ]);
    }
    return 0;
  },
};
