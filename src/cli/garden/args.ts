// Command-line parsing for `garden`: global options before the verb, each
// verb's own options after it (node:util parseArgs), and the value syntaxes
// (targets, sizes, durations, K=V pairs) shared by the verbs.

import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Address } from '../../client/index.js';
import * as units from '../units.js';

/** Bad command line: one line on stderr, exit 2. */
export class UsageError extends Error {}

export const DEFAULT_TARGET = '/tmp/garden.sock';

export interface GlobalOptions {
  target: string;
  help: boolean;
  version: boolean;
  /** The verb and everything after it. */
  rest: string[];
}

/** Reads `-t/--target ADDR`, `-h/--help`, `--version` up to the first non-option (the verb). */
export function parseGlobal(argv: string[], env: NodeJS.ProcessEnv = process.env): GlobalOptions {
  let target: string | undefined;
  let help = false;
  let version = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    if (a === '-h' || a === '--help') help = true;
    else if (a === '--version') version = true;
    else if (a === '-t' || a === '--target') {
      if (i + 1 >= argv.length) throw new UsageError(`option '${a}' needs a value (a socket path or host:port)`);
      target = argv[++i];
    } else if (a.startsWith('--target=')) target = a.slice('--target='.length);
    else if (a.startsWith('-t') && !a.startsWith('--')) target = a.slice(2);
    else throw new UsageError(`unknown option '${a}' (global options come before the verb: -t/--target, -h/--help, --version)`);
  }
  return { target: target || env.GARDEN_ADDR || DEFAULT_TARGET, help, version, rest: argv.slice(i) };
}

/**
 * A server address: a path starting with / or . is a unix socket, anything
 * else host:port over TCP. `unix://PATH` and `tcp://HOST:PORT` work too.
 */
export function parseTarget(target: string): Address {
  if (target.startsWith('unix://')) return { socketPath: path.resolve(target.slice('unix://'.length)) };
  if (target.startsWith('/') || target.startsWith('.')) return { socketPath: path.resolve(target) };
  const rest = target.startsWith('tcp://') ? target.slice('tcp://'.length) : target;
  const m = /^(?:\[([^\]]+)\]|([^:/\s]*)):(\d{1,5})\/?$/.exec(rest);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(`bad target '${target}': want a unix socket path (starting with / or .) or host:port`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** A target as people write it, for messages. */
export function describeTarget(a: Address): string {
  return 'socketPath' in a ? a.socketPath : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** One option of a verb, as node:util parseArgs takes it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

type OptionValue<S extends OptionSpec> = S['type'] extends 'string'
  ? (S['multiple'] extends true ? string[] : string)
  : (S['multiple'] extends true ? boolean[] : boolean);

/** What parseVerb returns: each option's value (absent when not given) and the positionals. */
export interface ParsedVerb<O extends Record<string, OptionSpec>> {
  values: { [K in keyof O]?: OptionValue<O[K]> };
  positionals: string[];
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Parses a verb's arguments. Returns null after printing `help` when asked
 * for it; throws UsageError (prefixed with the verb) for anything bad.
 */
export function parseVerb<const O extends Record<string, OptionSpec>>(
  verb: string, help: string, args: string[], options: O, arity: [min: number, max: number],
): ParsedVerb<O> | null {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, ...HELP_OPTION }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${verb}: ${parseArgsMessage(err as Error)} (see 'garden ${verb} --help')`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help.trimEnd() + '\n');
    return null;
  }
  const [min, max] = arity;
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const usage = help.split('\n')[0].replace(/^usage:\s*/, '');
    const what = n < min ? 'missing arguments' : `unexpected argument '${parsed.positionals[max]}'`;
    throw new UsageError(`${verb}: ${what}; usage: ${usage}`);
  }
  return parsed as unknown as ParsedVerb<O>;
}

/** parseArgs' messages, shortened to their first sentence. */
function parseArgsMessage(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const unknown = /Unknown option '([^']+)'/.exec(err.message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) return `unknown option '${unknown[1]}'`;
  const missing = /Option '([^']+)' argument missing/.exec(err.message);
  if (missing) return `option '${missing[1]}' needs a value`;
  return err.message.split(/\.\s/)[0].replace(/\.$/, '');
}

/**
 * Splits a verb's arguments at its command (`run H -e A=1 -- sh -c x`, or
 * without `--`: at the first positional after `before` of them), so that the
 * command's own flags are not taken for ours.
 */
export function splitCommand(args: string[], valueOptions: Set<string>, before = 1): [string[], string[]] {
  let seen = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return [args.slice(0, i), args.slice(i + 1)];
    if (!a.startsWith('-') || a === '-') {
      if (seen++ < before) continue;
      return [args.slice(0, i), args.slice(i)];
    }
    if (takesNextArgument(a, valueOptions)) i++;
  }
  return [args, []];
}

/**
 * Whether option `a` takes the next argument as its value: `--user root`,
 * `-u root`, or a group ending in a value option (`-au root`) — but not
 * `--user=root` or `-uroot`.
 */
function takesNextArgument(a: string, valueOptions: Set<string>): boolean {
  if (a.startsWith('--')) return !a.includes('=') && valueOptions.has(a);
  if (a.length === 2) return valueOptions.has(a);
  return !valueOptions.has(a.slice(0, 2)) && valueOptions.has(`-${a.at(-1)}`);
}

/** A size (512M, 1G, bytes when bare), via ../units.ts; a bad one is a usage error. */
export function parseSize(flag: string, text: string): number {
  return usage(flag, () => units.parseSize(text));
}

/** Milliseconds from 30s, 5m, 1h, 250ms or a bare number of ms, via ../units.ts. */
export function parseDuration(flag: string, text: string): number {
  return usage(flag, () => units.parseDuration(text));
}

function usage<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** `K=V` (V may be empty, K may not). */
export function parseKV(flag: string, text: string): [string, string] {
  const i = text.indexOf('=');
  if (i <= 0) throw new UsageError(`${flag} wants KEY=VALUE, got '${text}'`);
  return [text.slice(0, i), text.slice(i + 1)];
}

export function parseEnv(list: string[] | undefined): string[] | undefined {
  for (const e of list ?? []) parseKV('--env', e);
  return list?.length ? list : undefined;
}

/** A non-negative integer (ports, pids, cpu weights). */
export function parseCount(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > max) throw new UsageError(`${flag} wants a whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got '${text}'`);
  return Number(text);
}
