/**
 * Read buffers for bulk streams (process output) for node:net's `onread`
 * (the client's stream connections, init-d attachments).
 *
 * By default node:net reads at most 64 KiB per syscall into a freshly
 * allocated buffer: one allocation, one JS callback and one TCP window
 * update per 64 KiB. Here a busy stream reads into slabs: each read may fill
 * the rest of the current slab, and its bytes are handed out as a view of
 * it. The bytes are never reused, so whoever receives a chunk may keep it.
 *
 * A quiet stream holds no memory at all: it reads into one scratch buffer
 * shared by every reader (a read and its callback run back to back) and its
 * bytes are copied out. A read that fills the scratch buffer switches that
 * stream to slabs; a small read switches it back.
 */
const SLAB_BYTES = 256 * 1024;
const MIN_READ = 64 * 1024;
const SMALL = 16 * 1024;
const scratch = Buffer.allocUnsafeSlow(SMALL);

export class SlabReader {
  private slab: Buffer | null = null;
  private at = 0;

  /** Where the next read lands. */
  next = (): Buffer => {
    if (!this.slab) return scratch;
    if (this.slab.length - this.at < MIN_READ) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.at = 0;
    }
    return this.slab.subarray(this.at);
  };

  /** The `n` bytes just read into `buf` (the last `next()`), as a chunk to hand out. */
  take(n: number, buf: Buffer): Buffer {
    if (buf !== scratch && n >= SMALL) {
      this.at += n;
      return buf.subarray(0, n);
    }
    const chunk = Buffer.from(buf.subarray(0, n));
    if (buf !== scratch) this.slab = null; // quiet again: let the slab go
    else if (n === scratch.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES); // busy: read into slabs from now on
      this.at = 0;
    }
    return chunk;
  }
}
