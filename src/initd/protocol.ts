// The TypeScript side of native/common/protocol.h and PROTOCOL.md: frame
// limits, error codes, and the frame codec. Keep the numbers equal.

import { Packr } from 'msgpackr';

export const MAX_FRAME = 1 << 20;
/** Stdin bytes per frame: well under MAX_FRAME with room for the map. */
export const MAX_STDIN_CHUNK = 256 << 10;

export type InitdErrorCode =
  | 'bad_request' | 'exists' | 'not_found' | 'exec_not_found' | 'user_not_found'
  | 'dir_not_found' | 'spawn_failed' | 'bad_offset' | 'too_many';

export const STDOUT = 1;
export const STDERR = 2;

// Plain maps, no records or extensions: init-d's decoder takes standard msgpack only.
const packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number' });

export function encodeFrame(message: Record<string, unknown>): Buffer {
  const body = packr.pack(message);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export function decodeBody(body: Buffer): unknown {
  return packr.unpack(body);
}

export interface FrameHandlers {
  /** Any frame but output. */
  frame(message: Record<string, unknown>): void;
  /** Output bytes of stream 1 or 2 starting at absolute `offset`; `data` may be a slice of a socket chunk. */
  output(stream: number, offset: number, data: Buffer): void;
  /** The peer sent something that is not a frame. */
  error(err: Error): void;
}

/**
 * Splits socket chunks into frames. Output frames ("out") are recognised by
 * their fixed prefix and their bytes are passed on as slices of the incoming
 * chunks, without first gathering the whole frame: that copy would cost a
 * good part of the relay's throughput.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frameLen = -1;       // body length of the frame being read, -1 = reading a header
  private outLeft = 0;         // bytes of the current output frame's data still to come
  private outStream = 0;
  private outOffset = 0;

  constructor(private readonly handlers: FrameHandlers) {}

  push(chunk: Buffer): void {
    while (chunk.length > 0) {
      if (this.outLeft > 0) {
        const n = Math.min(this.outLeft, chunk.length);
        const data = chunk.subarray(0, n);
        this.handlers.output(this.outStream, this.outOffset, data);
        this.outOffset += n;
        this.outLeft -= n;
        if (this.outLeft === 0) this.frameLen = -1;
        chunk = chunk.subarray(n);
        continue;
      }
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      chunk = Buffer.alloc(0);
      if (!this.drain()) return;
      chunk = this.takeRest();
    }
  }

  // Consumes whole frames from the buffered chunks. Returns false when it
  // needs more bytes or failed; true when an output frame's data starts.
  private drain(): boolean {
    for (;;) {
      if (this.frameLen < 0) {
        if (this.buffered < 4) return false;
        const len = this.peek(4).readUInt32BE(0);
        if (len === 0 || len > MAX_FRAME) return this.fail(`bad frame length ${len}`);
        this.skip(4);
        this.frameLen = len;
      }
      const prefix = this.peek(Math.min(this.frameLen, 40, this.buffered));
      const out = parseOutPrefix(prefix, this.frameLen);
      if (out) {
        this.skip(out.headerLen);
        this.outStream = out.stream;
        this.outOffset = out.offset;
        this.outLeft = out.dataLen;
        if (this.outLeft === 0) {
          this.frameLen = -1;
          continue;
        }
        return true;
      }
      if (this.buffered < this.frameLen) return false;
      const body = this.peek(this.frameLen);
      this.skip(this.frameLen);
      this.frameLen = -1;
      let message: unknown;
      try {
        message = decodeBody(body);
      } catch (err) {
        return this.fail(`undecodable frame: ${(err as Error).message}`);
      }
      if (!message || typeof message !== 'object' || Array.isArray(message)) return this.fail('frame is not a map');
      this.handlers.frame(message as Record<string, unknown>);
    }
  }

  private fail(message: string): false {
    this.chunks = [];
    this.buffered = 0;
    this.frameLen = -1;
    this.handlers.error(new Error(`init-d protocol error: ${message}`));
    return false;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged.subarray(0, n);
  }

  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const head = this.chunks[0];
      if (head.length <= n) {
        n -= head.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = head.subarray(n);
        n = 0;
      }
    }
  }

  private takeRest(): Buffer {
    const rest = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }
}

const OUT_PREFIX = Buffer.from([0x84, 0xa1, 0x74, 0xa3, 0x6f, 0x75, 0x74, 0xa1, 0x73]); // {t:"out", s:

/**
 * Recognises init-d's encoding of {t:"out", s, o, d: bin} (keys in that
 * order, as init-d writes them). Anything else goes the general way.
 */
function parseOutPrefix(b: Buffer, frameLen: number): { stream: number; offset: number; dataLen: number; headerLen: number } | null {
  if (b.length < OUT_PREFIX.length + 4 || b.compare(OUT_PREFIX, 0, OUT_PREFIX.length, 0, OUT_PREFIX.length) !== 0) return null;
  let i = OUT_PREFIX.length;
  const stream = b[i++];
  if (stream !== STDOUT && stream !== STDERR) return null;
  if (b[i++] !== 0xa1 || b[i++] !== 0x6f) return null; // "o"
  const offset = readUint(b, i);
  if (!offset) return null;
  i = offset.next;
  if (b[i++] !== 0xa1 || b[i++] !== 0x64) return null; // "d"
  const tag = b[i++];
  let dataLen: number;
  if (tag === 0xc4 && i + 1 <= b.length) dataLen = b[i], i += 1;
  else if (tag === 0xc5 && i + 2 <= b.length) dataLen = b.readUInt16BE(i), i += 2;
  else if (tag === 0xc6 && i + 4 <= b.length) dataLen = b.readUInt32BE(i), i += 4;
  else return null;
  if (i + dataLen !== frameLen) return null;
  return { stream, offset: offset.value, dataLen, headerLen: i };
}

function readUint(b: Buffer, i: number): { value: number; next: number } | null {
  if (i >= b.length) return null;
  const tag = b[i];
  if (tag <= 0x7f) return { value: tag, next: i + 1 };
  const width = tag === 0xcc ? 1 : tag === 0xcd ? 2 : tag === 0xce ? 4 : tag === 0xcf ? 8 : 0;
  if (!width || i + 1 + width > b.length) return null;
  let v = 0;
  for (let k = 0; k < width; k++) v = v * 256 + b[i + 1 + k];
  return { value: v, next: i + 1 + width };
}
