// Files in and out of a container as tar streams: stream-in reads a tar from
// stdin or -f FILE, stream-out writes one to stdout or -f FILE. Big transfers
// show a progress bar when stderr is a terminal.

import { createReadStream, createWriteStream, fstatSync, rmSync, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError, parseVerb } from '../args.js';
import { Progress } from '../progress.js';
import type { Verb } from '../verb.js';

/** The size of what we will read, when it is a regular file. */
function sizeOf(file: string | undefined): number | undefined {
  try {
    const st = file === undefined ? fstatSync(0) : statSync(file);
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if (file === undefined) return undefined;
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export const streamIn: Verb = {
  name: 'stream-in',
  summary: 'copy a tar stream (stdin or a file) into a container',
  help: `usage: garden stream-in HANDLE --to DIR [-f FILE] [--user USER]

Extracts a tar stream into directory DIR of the container. The tar comes
from stdin, or from FILE with -f. On a terminal a progress bar shows on stderr.

      --to DIR          where to extract (also as a second argument: garden stream-in HANDLE DIR)
  -f, --file FILE       read the tar from FILE instead of stdin
  -u, --user USER       extract as USER (default root)`,
  async run(args, ctx) {
    const p = parseVerb('stream-in', this.help, args, {
      to: { type: 'string' },
      file: { type: 'string', short: 'f' },
      user: { type: 'string', short: 'u' },
    }, [1, 2]);
    if (!p) return 0;
    const [handle, positionalTo] = p.positionals;
    const to = p.values.to ?? positionalTo;
    if (to === undefined || (p.values.to !== undefined && positionalTo !== undefined)) {
      throw new UsageError('stream-in: give the destination once: --to DIR');
    }
    const file = p.values.file;
    if (file === undefined && process.stdin.isTTY) {
      throw new UsageError('stream-in: will not read a tar stream from a terminal; pipe one in or use -f FILE');
    }
    const total = sizeOf(file);
    const container = await ctx.garden().lookup(handle);
    const source: Readable = file === undefined ? process.stdin : createReadStream(file);
    const progress = Progress.forStderr('stream-in', total);
    try {
      await container.streamIn({ path: to, user: p.values.user, tarStream: progress ? source.pipe(progress) : source });
    } catch (err) {
      progress?.abandon();
      throw err;
    }
    return 0;
  },
};

export const streamOut: Verb = {
  name: 'stream-out',
  summary: 'copy a path out of a container as a tar stream (stdout or a file)',
  help: `usage: garden stream-out HANDLE --from PATH [-f FILE] [--user USER]

Writes PATH of the container (a file or a directory) as a tar stream to
stdout, or to FILE with -f. On a terminal a progress bar shows on stderr.

      --from PATH       what to copy (also as a second argument: garden stream-out HANDLE PATH)
  -f, --file FILE       write the tar to FILE instead of stdout (removed again on failure)
  -u, --user USER       read as USER (default root)`,
  async run(args, ctx) {
    const p = parseVerb('stream-out', this.help, args, {
      from: { type: 'string' },
      file: { type: 'string', short: 'f' },
      user: { type: 'string', short: 'u' },
    }, [1, 2]);
    if (!p) return 0;
    const [handle, positionalFrom] = p.positionals;
    const from = p.values.from ?? positionalFrom;
    if (from === undefined || (p.values.from !== undefined && positionalFrom !== undefined)) {
      throw new UsageError('stream-out: give the source once: --from PATH');
    }
    const file = p.values.file;
    if (file === undefined && process.stdout.isTTY) {
      throw new UsageError('stream-out: will not write a tar stream to a terminal; redirect stdout or use -f FILE');
    }
    const container = await ctx.garden().lookup(handle);
    const tar = await container.streamOut({ path: from, user: p.values.user });
    const progress = Progress.forStderr('stream-out', undefined);
    const sink: Writable = file === undefined ? process.stdout : createWriteStream(file);
    const stages: (Readable | Writable)[] = progress ? [tar, progress, sink] : [tar, sink];
    try {
      // Our stdout is not ours to end; a file is.
      await pipeline(stages as [Readable, Writable], { end: file !== undefined });
    } catch (err) {
      progress?.abandon();
      if (file !== undefined) rmSync(file, { force: true });
      throw new Error(`stream-out of ${from} broke off: ${(err as Error).message}`);
    }
    return 0;
  },
};
