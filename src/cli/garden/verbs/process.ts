// Processes: run (streams output, exits with the code; -d detaches), attach
// to a running one, and shell (an interactive /bin/sh on a tty).

import type { ProcessSpec } from '../../../api/types.js';
import { UsageError, parseEnv, parseVerb, splitCommand } from '../args.js';
import { session, ttySpec } from '../session.js';
import type { Verb } from '../verb.js';

/** A tty process gets our TERM unless told otherwise, as ssh and docker do. */
function withTerm(env: string[] | undefined, tty: boolean): string[] | undefined {
  if (!tty || env?.some((e) => e.startsWith('TERM='))) return env;
  return [...(env ?? []), `TERM=${process.env.TERM || 'xterm'}`];
}

const PROCESS_OPTIONS = {
  user: { type: 'string', short: 'u' },
  env: { type: 'string', short: 'e', multiple: true },
  dir: { type: 'string' },
} as const;

const RUN_VALUE_OPTIONS = new Set(['-u', '--user', '-e', '--env', '--dir', '--id']);

export const run: Verb = {
  name: 'run',
  summary: 'run a command in a container; exits with its code',
  help: `usage: garden run HANDLE [flags] [--] CMD [ARGS...]

Runs CMD in the container, streams its output to ours and our stdin to it,
and exits with its exit code (128+N when killed by signal N). Signals we get
(^C) are passed on: the first as terminate, a second as kill.

  -a, --attach        stream output and wait (the default; accepted for gaol's sake)
  -d, --detach        print the process id and return at once; the process runs on
  -t, --tty           give the process a terminal sized like ours (ours goes raw meanwhile)
  -u, --user USER     run as USER (default: the container's default, usually root)
  -e, --env K=V       set an environment variable (repeatable)
      --dir DIR       working directory
      --id ID         the process id (default: the server picks one); see 'garden attach'`,
  async run(args, ctx) {
    const [ours, command] = splitCommand(args, RUN_VALUE_OPTIONS);
    const p = parseVerb('run', this.help, ours, {
      ...PROCESS_OPTIONS,
      attach: { type: 'boolean', short: 'a' },
      detach: { type: 'boolean', short: 'd' },
      tty: { type: 'boolean', short: 't' },
      id: { type: 'string' },
    }, [1, 1]);
    if (!p) return 0;
    const v = p.values;
    if (!command.length) throw new UsageError("run: which command? usage: garden run HANDLE [flags] -- CMD [ARGS...]");
    if (v.detach && v.attach) throw new UsageError('run: --attach and --detach contradict each other');
    const tty = v.tty ?? false;
    const spec: ProcessSpec = {
      path: command[0],
      args: command.slice(1),
      env: withTerm(parseEnv(v.env), tty),
      dir: v.dir,
      user: v.user,
      id: v.id,
      tty: tty ? ttySpec() : undefined,
    };
    const container = await ctx.garden().lookup(p.positionals[0]);
    if (v.detach) {
      const proc = await container.run(spec, {});
      process.stdout.write(proc.id + '\n');
      return 0;
    }
    return session((io) => container.run(spec, io), { tty, stdin: true });
  },
};

export const attach: Verb = {
  name: 'attach',
  summary: 'attach to a running process; exits with its code',
  help: `usage: garden attach HANDLE PROCESS_ID [-t]

Streams a running (or finished) process's output to ours and our stdin to
it, and exits with its exit code.

  -t, --tty   the process has a terminal: put ours in raw mode and pass on resizes`,
  async run(args, ctx) {
    const p = parseVerb('attach', this.help, args, { tty: { type: 'boolean', short: 't' } }, [2, 2]);
    if (!p) return 0;
    const [handle, id] = p.positionals;
    const container = await ctx.garden().lookup(handle);
    const tty = p.values.tty ?? false;
    return session(async (io) => {
      const proc = await container.attach(id, io);
      if (tty) await proc.setTTY(ttySpec());
      return proc;
    }, { tty, stdin: true });
  },
};

export const shell: Verb = {
  name: 'shell',
  summary: 'an interactive shell in a container',
  help: `usage: garden shell HANDLE [flags] [-- CMD [ARGS...]]

Runs /bin/sh (or CMD) in the container on a terminal sized like ours, with
ours in raw mode until it exits; exits with its code.

  -u, --user USER   run as USER
  -e, --env K=V     set an environment variable (repeatable)
      --dir DIR     working directory`,
  async run(args, ctx) {
    const [ours, command] = splitCommand(args, RUN_VALUE_OPTIONS);
    const p = parseVerb('shell', this.help, ours, PROCESS_OPTIONS, [1, 1]);
    if (!p) return 0;
    const v = p.values;
    const argv = command.length ? command : ['/bin/sh'];
    const spec: ProcessSpec = {
      path: argv[0],
      args: argv.slice(1),
      env: withTerm(parseEnv(v.env), true),
      dir: v.dir,
      user: v.user,
      tty: ttySpec(),
    };
    const container = await ctx.garden().lookup(p.positionals[0]);
    return session((io) => container.run(spec, io), { tty: true, stdin: true });
  },
};
