// dosh — the docker shell: runs a command in a container straight through
// its init-d socket (no server), on your own terminal's fds.

import { parseArgs } from 'node:util';
import { InitdClient, type SpawnSpec } from '../initd/client.js';
import { depotFrom, socketForHandle, socketFromCwd } from './depot.js';
import { fail, runOnTerminal } from './terminal.js';

const USAGE = `usage: dosh [--depot DIR] [-c HANDLE | --pid PID] [-u USER] [-t] [-e K=V]... [-d DIR] [-- CMD ARGS...]

Runs CMD (default: an interactive /bin/sh) in a container and exits with its code.

  -c, --container HANDLE  the container (default: the one whose depot dir you stand in)
      --pid PID           enter the namespaces of a running process instead (any container)
      --depot DIR         the depot (default: $GARDEN_DEPOT or /var/lib/node-garden)
  -u, --user USER         name, uid or uid:gid from the container's /etc/passwd (default root)
  -t, --tty               allocate a terminal (default: when stdin is one and no CMD is given)
  -T, --no-tty            never allocate a terminal
  -e, --env K=V           set an environment variable (repeatable)
  -d, --dir DIR           working directory (default: the user's home)
  -h, --help              this help`;

// Options that take a value, so the command is found after them.
const VALUE_OPTIONS = new Set(['-c', '--container', '--pid', '--depot', '-u', '--user', '-e', '--env', '-d', '--dir']);

/** Splits at the command: its own flags (`sh -c ...`) are not ours. */
function splitCommand(argv: string[]): [string[], string[]] {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [argv.slice(0, i), argv.slice(i + 1)];
    if (!a.startsWith('-') || a === '-') return [argv.slice(0, i), argv.slice(i)];
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return [argv, []];
}

export async function main(argv: string[]): Promise<number> {
  const [ours, positionals] = splitCommand(argv);
  let parsed;
  try {
    parsed = parseArgs({
      args: ours,
      allowPositionals: false,
      options: {
        container: { type: 'string', short: 'c' },
        pid: { type: 'string' },
        depot: { type: 'string' },
        user: { type: 'string', short: 'u' },
        tty: { type: 'boolean', short: 't' },
        'no-tty': { type: 'boolean', short: 'T' },
        env: { type: 'string', short: 'e', multiple: true },
        dir: { type: 'string', short: 'd' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE.split('\n')[0]}`);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  for (const e of values.env ?? []) if (!/^[^=]+=/.test(e)) return fail(`--env wants K=V, got '${e}'`);
  const command = positionals.length ? positionals : ['/bin/sh'];
  const tty = values['no-tty'] ? false : values.tty ?? (positionals.length === 0 && process.stdin.isTTY === true);

  if (values.pid !== undefined) {
    const pid = Number(values.pid);
    if (!Number.isInteger(pid) || pid <= 0) return fail(`--pid wants a process id, got '${values.pid}'`);
    const { runInNamespaces } = await import('./nsenter.js');
    return runInNamespaces(pid, command, { user: values.user, env: values.env ?? [], dir: values.dir, tty });
  }

  const depot = depotFrom(values.depot);
  let socketPath: string | undefined;
  if (values.container !== undefined) {
    socketPath = socketForHandle(depot, values.container);
    if (!socketPath) return fail(`no container '${values.container}' in ${depot} (is it running, and is that the depot? see --depot)`);
  } else {
    socketPath = socketFromCwd(process.cwd());
    if (!socketPath)
      return fail(`which container? pass -c HANDLE, or cd into a container's dir under ${depot}/containers, or use --pid PID`);
  }

  const spec: SpawnSpec = {
    path: command[0],
    args: command.slice(1),
    env: values.env,
    user: values.user,
    dir: values.dir,
  };
  const client = new InitdClient(socketPath);
  try {
    if (tty) {
      const size = { cols: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 };
      const proc = await client.spawnDirect({ ...spec, tty: size });
      return await runOnTerminal(proc.master!, (cols, rows) => proc.resize(cols, rows), () => proc.wait());
    }
    // Our own stdin/stdout/stderr, passed as they are: output never goes through Node.
    const proc = await client.spawnDirect(spec, [0, 1, 2]);
    return await proc.wait();
  } catch (err) {
    return fail((err as Error).message);
  }
}
