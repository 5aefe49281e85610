/**
 * Read buffers for bulk streams (process output), carved from slabs, for
 * node:net's `onread` (the client's stream connections, init-d
 * attachments). By
 * default node:net reads at most 64 KiB per syscall into a freshly allocated
 * buffer; for output streams that is one allocation, one JS callback and one
 * TCP window update per 64 KiB, and fresh memory is what costs most. Here
 * each read may fill the rest of the current slab and its bytes are handed
 * out as a view of it. The bytes are never reused, so whoever receives a
 * chunk may keep it; a kept chunk keeps its slab alive, so small reads are
 * copied out instead and the slab space reused.
 */
const SLAB_BYTES = 256 * 1024;
const MIN_READ = 64 * 1024;
const COPY_BELOW = 16 * 1024;

export class SlabReader {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private at = 0;

  /** Where the next read lands. */
  next = (): Buffer => {
    if (this.slab.length - this.at < MIN_READ) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.at = 0;
    }
    return this.slab.subarray(this.at);
  };

  /** The `n` bytes just read into `buf` (the last `next()`), as a chunk to hand out. */
  take(n: number, buf: Buffer): Buffer {
    if (n < COPY_BELOW) return Buffer.from(buf.subarray(0, n));
    this.at += n;
    return buf.subarray(0, n);
  }
}
