// A progress bar for big transfers, drawn on stderr when stderr is a
// terminal: a pass-through stream that counts bytes and redraws one line.

import { Transform, type TransformCallback } from 'node:stream';
import { formatBytes } from './output.js';

/** Known sizes from this up get a bar at once; anything else after SLOW_MS. */
const BIG = 1024 * 1024;
const SLOW_MS = 500;
const REDRAW_MS = 100;

export class Progress extends Transform {
  private done = 0;
  private drawn = false;
  private lastDraw = 0;
  private readonly started = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    super();
  }

  /** A Progress when stderr is a terminal, else null (nothing to draw on). */
  static forStderr(label: string, total: number | undefined): Progress | null {
    return process.stderr.isTTY ? new Progress(label, total) : null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.done += chunk.length;
    const now = Date.now();
    const due = this.drawn ? now - this.lastDraw >= REDRAW_MS : (this.total ?? 0) >= BIG || now - this.started >= SLOW_MS;
    if (due) this.draw(now);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    // Only a bar that was shown gets its final 100% line.
    if (this.drawn) {
      this.draw(Date.now());
      this.out.write('\n');
    }
    cb();
  }

  /** Ends a shown bar's line early (on failure), so the error starts on its own line. */
  abandon(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private draw(now: number): void {
    this.drawn = true;
    this.lastDraw = now;
    const secs = Math.max((now - this.started) / 1000, 0.001);
    const rate = `${formatBytes(Math.round(this.done / secs))}/s`;
    let line: string;
    if (this.total) {
      const frac = Math.min(1, this.done / this.total);
      const pct = `${Math.floor(frac * 100)}%`.padStart(4);
      const tail = ` ${pct}  ${formatBytes(this.done)} / ${formatBytes(this.total)}  ${rate}`;
      const width = Math.max(10, Math.min(40, (this.out.columns || 80) - this.label.length - tail.length - 4));
      const fill = Math.round(frac * width);
      line = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}]${tail}`;
    } else {
      line = `${this.label} ${formatBytes(this.done)}  ${rate}`;
    }
    this.out.write(`\r${line}\x1b[K`);
  }
}
