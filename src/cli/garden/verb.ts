// What every `garden` verb is: a name, a one-line summary for the verb list,
// its --help text, and a function from its arguments to an exit code.

import type { Garden } from '../../api/garden.js';

export interface VerbContext {
  /** The client for the target, created on first use. */
  garden(): Garden;
  /** The target as given (for messages). */
  target: string;
}

export interface Verb {
  name: string;
  summary: string;
  /** Full --help text; its first line is `usage: garden VERB ...`. */
  help: string;
  run(args: string[], ctx: VerbContext): Promise<number>;
}
