// A Garden Process over one init-d relayed attachment: output is copied into
// the caller's writers (never ending them), stdin is copied in, and wait()
// resolves once the process exited and every byte of its output was handed
// to the writers and flushed by them.

import { closeSync, openSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { acceptsDirectOutput, directOutput } from '../../api/direct-output.js';
import type { Process, ProcessIO, Signal } from '../../api/garden.js';
import type { TTYSpec } from '../../api/types.js';
import type { InitdClient } from '../../initd/client.js';
import type { InitdProcess } from '../../initd/process.js';

const SIGNALS: Record<Signal, NodeJS.Signals> = { terminate: 'SIGTERM', kill: 'SIGKILL' };

/** Copies src into sink without ending it; resolves when src ended and the last write was flushed. */
function copy(src: Readable, sink: Writable | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!sink) {
      src.on('end', resolve).on('close', resolve).resume();
      return;
    }
    let pending = 0;
    let ended = false;
    const maybeDone = () => {
      if (ended && pending === 0) resolve();
    };
    const onError = () => {
      // A broken sink must not stall the process: keep draining into nothing.
      pending = 0;
      src.removeAllListeners('data');
      src.on('data', () => {});
      src.resume();
      maybeDone();
    };
    sink.once('error', onError);
    src.on('data', (chunk: Buffer) => {
      if (sink.destroyed || sink.writableEnded) return;
      pending++;
      const ok = sink.write(chunk, () => {
        pending = Math.max(0, pending - 1);
        maybeDone();
      });
      if (!ok) {
        src.pause();
        sink.once('drain', () => src.resume());
      }
    });
    const finish = () => {
      if (ended) return;
      ended = true;
      sink.off('error', onError);
      if (sink.destroyed || sink.writableEnded) pending = 0;
      maybeDone();
    };
    src.once('end', finish);
    src.once('close', finish);
  });
}

export class DockerProcess implements Process {
  private readonly done: Promise<number>;
  /** Output handed to init-d to write into a writer's fd; wait() includes them. */
  private readonly handoffs = new Set<Promise<unknown>>();
  private readonly sinks = new Set<{ close(): void }>();
  private settled = false;

  constructor(
    private readonly proc: InitdProcess,
    private readonly client: InitdClient,
    io: ProcessIO,
    opts: { endStdinWithoutSource: boolean; onSettled?: () => void },
  ) {
    const out = copy(proc.stdout, io.stdout);
    const err = copy(proc.stderr, io.stderr);
    this.offerDirect('stdout', io.stdout, out);
    this.offerDirect('stderr', io.stderr, err);
    if (io.stdin) {
      const stdin = io.stdin;
      stdin.on('data', (d: Buffer) => {
        if (!proc.stdin.write(d)) {
          stdin.pause();
          proc.stdin.once('drain', () => stdin.resume());
        }
      });
      stdin.once('end', () => proc.stdin.end());
      // A client that goes away ends nothing: the process keeps its stdin open.
      stdin.once('error', () => stdin.removeAllListeners('data'));
    } else if (opts.endStdinWithoutSource) {
      proc.stdin.end();
    }
    this.done = Promise.all([proc.wait(), out, err]).then(async ([code]) => {
      // A hand-off under way finishes (or declines) before the output is complete.
      while (this.handoffs.size) await Promise.all(this.handoffs);
      this.settled = true;
      return code;
    });
    this.done.catch(() => {});
    this.done.finally(() => opts.onSettled?.()).catch(() => {});
  }

  /**
   * Lets a writer with a file descriptor (the Garden server's stream
   * connection) have init-d write this stream into it directly: the relay
   * stops at a known offset, what was relayed reaches the writer, and init-d
   * goes on from that offset into the fd.
   */
  private offerDirect(stream: 'stdout' | 'stderr', writer: Writable | undefined, relayed: Promise<void>): void {
    if (!acceptsDirectOutput(writer)) return;
    writer[directOutput](async (fdOf) => {
      if (this.settled) return null;
      let resolveTurn!: () => void;
      const turn = new Promise<void>((r) => (resolveTurn = r));
      this.handoffs.add(turn);
      try {
        const offset = await this.proc.mute(stream);
        if (offset === null) return null; // the attachment ended first: everything went through the writer
        await relayed;
        const fd = await fdOf();
        // A reader gone meanwhile: the rest goes to /dev/null, so nothing holds the process.
        const target = fd ?? openSync('/dev/null', 'w');
        const sink = await this.client.sink(this.proc.id, stream, target, offset).finally(() => {
          if (fd === null) closeSync(target);
        });
        const done = sink.done.catch(() => {});
        this.handoffs.add(done);
        this.sinks.add(sink);
        done.finally(() => (this.handoffs.delete(done), this.sinks.delete(sink))).catch(() => {});
        return fd === null ? null : () => sink.close();
      } catch {
        return null;
      } finally {
        this.handoffs.delete(turn);
        resolveTurn();
      }
    });
  }

  get id(): string {
    return this.proc.id;
  }

  wait(): Promise<number> {
    return this.done;
  }

  async setTTY(spec: TTYSpec): Promise<void> {
    const cols = spec.windowSize?.columns ?? 0;
    const rows = spec.windowSize?.rows ?? 0;
    await this.client.resize(this.proc.id, cols, rows);
  }

  async signal(signal: Signal): Promise<void> {
    const s = SIGNALS[signal];
    if (!s) throw new TypeError(`unknown signal ${String(signal)}`);
    await this.client.signal(this.proc.id, s);
  }

  /** Drops this attachment, direct output included; the process keeps running. */
  detach(): void {
    for (const sink of this.sinks) sink.close();
    this.proc.detach();
  }

  /** Byte offsets to resume from with attach(). */
  offsets(): { stdoutOffset: number; stderrOffset: number } {
    const o = this.proc.offsets();
    return { stdoutOffset: o.stdout, stderrOffset: o.stderr };
  }
}
