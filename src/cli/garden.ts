// garden — a gaol-style command-line client for any Garden server (ours or
// Go's). Global options before the verb, the verb's own options after it;
// one-line errors; exit 2 for a bad command line, 1 for a failure, and the
// process's own code for run/attach/shell.

import { readFileSync } from 'node:fs';
import type { Garden } from '../api/garden.js';
import { GardenClient } from '../client/index.js';
import { UsageError, describeTarget, parseGlobal, parseTarget } from './garden/args.js';
import { create } from './garden/verbs/create.js';
import { info, metrics } from './garden/verbs/inspect.js';
import { destroy, stop } from './garden/verbs/lifecycle.js';
import { list } from './garden/verbs/list.js';
import { netIn, netOut } from './garden/verbs/net.js';
import { attach, run, shell } from './garden/verbs/process.js';
import { property } from './garden/verbs/property.js';
import { capacity, ping } from './garden/verbs/server-info.js';
import { streamIn, streamOut } from './garden/verbs/streams.js';
import type { Verb } from './garden/verb.js';
import { fail } from './terminal.js';

const VERBS: Verb[] = [
  ping, capacity, create, list, info, destroy, stop, run, attach, shell,
  streamIn, streamOut, netIn, netOut, property, metrics,
];
const BY_NAME = new Map(VERBS.map((v) => [v.name, v]));

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length), 'server'.length) + 2;
  const line = (name: string, summary: string) => `  ${name.padEnd(width)}${summary}\n`;
  return `usage: garden [-t ADDR] VERB [flags] [args]

A command-line client for a Garden server.

global options (before the verb):
  -t, --target ADDR   the server: a unix socket path (starting with / or .) or
                      host:port (default: $GARDEN_ADDR, else /tmp/garden.sock)
  -h, --help          this help; 'garden VERB --help' for a verb's
      --version       print the version

verbs:
${VERBS.map((v) => line(v.name, v.summary)).join('')}${line('server', 'run a Garden server on a backend (see garden server --help)')}
examples:
  h=$(garden create --property team=web --memory 512M)
  garden run $h -- sh -c 'echo hello from $(hostname)'
  tar -C site -c . | garden stream-in $h --to /srv/www
  garden shell $h
  garden destroy $h`;
}

export async function main(argv: string[]): Promise<number> {
  // ── Hook for the lead: `garden server ...` is served by ./garden-server.ts
  // (exporting `serve(argv: string[]): Promise<number>`), not by this file.
  if (argv[0] === 'server') return server(argv.slice(1));

  try {
    const global = parseGlobal(argv);
    const [verbName, ...args] = global.rest;
    if (global.version) {
      process.stdout.write(version() + '\n');
      return 0;
    }
    if (verbName === 'help' || (global.help && verbName === undefined)) {
      const verb = args[0] === undefined ? undefined : BY_NAME.get(args[0]);
      if (args[0] !== undefined && !verb) throw new UsageError(`no such verb '${args[0]}' (see 'garden --help')`);
      process.stdout.write((verb ? verb.help : usage()) + '\n');
      return 0;
    }
    if (verbName === undefined) {
      process.stderr.write(usage() + '\n');
      return 2;
    }
    if (verbName === 'server') return server(args);
    const verb = BY_NAME.get(verbName);
    if (!verb) throw new UsageError(`unknown verb '${verbName}' (see 'garden --help')`);
    if (global.help) return verb.run(['--help'], { target: global.target, garden: () => never() });

    let client: Garden | undefined;
    const address = parseTarget(global.target);
    const ctx = { target: describeTarget(address), garden: () => (client ??= new GardenClient(address)) };
    try {
      return await verb.run(args, ctx);
    } catch (err) {
      if (isConnectError(err)) return fail(`cannot reach the garden server at ${ctx.target}: ${(err as Error).message}`);
      throw err;
    }
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    return fail(oneLine(err));
  }
}

function never(): never {
  throw new Error('--help needs no server');
}

/** Failing to connect, as opposed to a failure the server reported. */
function isConnectError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | null;
  return e?.syscall === 'connect' || /^connect timeout/.test(e?.message ?? '');
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.trim().split('\n')[0] || 'failed';
}

/** `garden server`: bad flags are usage errors (exit 2), anything else exit 1, each one line. */
async function server(args: string[]): Promise<number> {
  const { serve, UsageError } = await import('./garden-server.js');
  try {
    return await serve(args);
  } catch (err) {
    const usage = err instanceof UsageError || String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');
    return fail(`server: ${oneLine(err)}`, usage ? 2 : 1);
  }
}

/** The package's version, from its package.json (run from src/ or from dist/src/). */
export function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
      if (pkg.name === 'node-garden') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}
