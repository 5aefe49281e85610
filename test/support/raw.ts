// Raw-socket helpers for wire tests: speak bytes, read bytes.

import net from 'node:net';

export type Target = { socket: string } | { host: string; port: number };

export function dial(target: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = 'socket' in target ? net.connect(target.socket) : net.connect(target.port, target.host);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends bytes, returns everything until the server closes. */
export async function exchange(target: Target, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  const s = await dial(target);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => { s.destroy(); reject(new Error(`timeout; got ${Buffer.concat(chunks).toString()}`)); }, timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(t); resolve(Buffer.concat(chunks).toString('latin1')); });
    s.write(data);
  });
}

/** Replaces the Date header value so heads can be compared byte for byte. */
export function undate(s: string): string {
  return s.replace(/\r\nDate: [^\r]+\r\n/g, '\r\nDate: X\r\n');
}

/** Buffered reader over a socket: read a head, then exact bytes or lines. */
export class Reader {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.wake(); });
    socket.on('close', () => { this.ended = true; this.wake(); });
    socket.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  private async until(pred: () => number, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = pred();
      if (n >= 0) {
        const out = this.buf.subarray(0, n).toString('latin1');
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.ended) throw new Error(`connection closed; pending: ${JSON.stringify(this.buf.toString('latin1'))}`);
      if (Date.now() > deadline) throw new Error(`timeout; pending: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  head(): Promise<string> {
    return this.until(() => { const i = this.buf.indexOf('\r\n\r\n'); return i < 0 ? -1 : i + 4; });
  }

  line(): Promise<string> {
    return this.until(() => { const i = this.buf.indexOf('\n'); return i < 0 ? -1 : i + 1; });
  }

  bytes(n: number): Promise<string> {
    return this.until(() => (this.buf.length >= n ? n : -1));
  }

  /** Everything until the server closes. */
  async rest(timeoutMs = 5000): Promise<string> {
    await this.until(() => (this.ended ? 0 : -1), timeoutMs);
    const out = this.buf.toString('latin1');
    this.buf = Buffer.alloc(0);
    return out;
  }
}
