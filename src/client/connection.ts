// The client's transport: one connection per request like Go's client
// (`Connection: close`, 2 s connect timeout), plain requests over node:http,
// hijacked ones (Run, Attach, Stdout, Stderr) over a raw socket.

import http, { type IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { GardenError } from '../api/errors.js';
import { decodeError } from '../wire/errors.js';
import { headEnd, parseResponseHead } from '../wire/http.js';
import { SlabReader } from '../net/slab-reader.js';
import { type JsonValue, parseJson } from '../wire/json.js';
import { type Params, type RouteName, ROUTE_BY_NAME, buildPath, buildQuery } from '../wire/routes.js';

export type Address = { socketPath: string } | { host: string; port: number };

const CONNECT_TIMEOUT_MS = 2000;

/** A hijacked connection after the response head. */
export interface Hijacked {
  socket: Socket;
  /** Bytes that came after the head. */
  leftover: Buffer;
}

/**
 * A hijacked bulk connection: what follows the head is delivered to the
 * handler set with `onData` (while the socket is not paused; a handler that
 * returns false pauses it, `socket.resume()` continues). No 'data' events.
 */
export interface BulkHijacked extends Hijacked {
  onData(handler: (chunk: Buffer) => boolean): void;
}

/** `unix:///path/to.sock` or `tcp://host:port` (also `host:port`, `/path`). */
export function parseAddress(url: string): Address {
  if (url.startsWith('unix://')) return { socketPath: url.slice('unix://'.length) };
  if (url.startsWith('/') || url.startsWith('.')) return { socketPath: url };
  const rest = url.startsWith('tcp://') ? url.slice('tcp://'.length) : url;
  const m = /^\[?([^\]]*)\]?:(\d+)\/?$/.exec(rest);
  if (!m) throw new GardenError(`invalid garden address: ${url}`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

export interface RequestOptions {
  params?: Params;
  query?: Record<string, string>;
  /** JSON text (newline-terminated) or a stream (sent chunked). */
  body?: string | Readable;
  contentType?: string;
}

/** Turns a non-2xx response body into the typed error. */
function errorFrom(status: number, body: Buffer): GardenError {
  let v: JsonValue;
  try {
    v = parseJson(body.toString('utf8'));
  } catch (err) {
    return new GardenError(`bad response: status ${status}: ${(err as Error).message}: ${body.toString('utf8').slice(0, 200)}`);
  }
  try {
    return decodeError(v);
  } catch (err) {
    return new GardenError(`bad response: ${(err as Error).message}`);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export class Connection {
  constructor(readonly address: Address) {}

  private target(route: RouteName, opts: RequestOptions): { method: string; path: string } {
    const r = ROUTE_BY_NAME.get(route)!;
    return { method: r.method, path: buildPath(route, opts.params) + buildQuery(opts.query ?? {}) };
  }

  /** A plain request; resolves with the 2xx response, unread. */
  request(route: RouteName, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const { method, path } = this.target(route, opts);
    const headers: Record<string, string | number> = { Host: 'api', Connection: 'close' };
    const body = opts.body;
    if (typeof body === 'string') {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    } else if (body) {
      headers['Content-Type'] = opts.contentType ?? 'application/x-tar';
      headers['Transfer-Encoding'] = 'chunked';
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.address, method, path, headers, agent: false, setHost: false });
      req.on('socket', (s: Socket) => {
        if (!s.connecting) return;
        const t = setTimeout(() => req.destroy(new GardenError(`connect timeout after ${CONNECT_TIMEOUT_MS}ms`)), CONNECT_TIMEOUT_MS);
        s.once('connect', () => clearTimeout(t));
        s.once('close', () => clearTimeout(t));
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        readAll(res).then((b) => reject(errorFrom(status, b)), reject);
        // An early error answer: stop uploading.
        if (body && typeof body !== 'string') body.unpipe(req);
      });
      if (typeof body === 'string') req.end(body);
      else if (body) {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      } else req.end();
    });
  }

  /** A plain request whose success body is one JSON value. */
  async json(route: RouteName, opts: RequestOptions = {}): Promise<JsonValue> {
    const res = await this.request(route, opts);
    const body = await readAll(res);
    try {
      return parseJson(body.toString('utf8'));
    } catch (err) {
      // Go's client fails on an empty success body with `EOF`.
      throw new GardenError(body.length ? `bad response: ${(err as Error).message}` : 'EOF');
    }
  }

  /**
   * A hijacked request: sends the head (and body), reads the response head,
   * then hands over the socket with whatever followed the head.
   */
  hijack(route: RouteName, opts: RequestOptions = {}): Promise<Hijacked> {
    return this.open(route, opts, false);
  }

  /** hijack() for a connection that only brings bulk bytes (Stdout, Stderr). */
  hijackBulk(route: RouteName, opts: RequestOptions = {}): Promise<BulkHijacked> {
    return this.open(route, opts, true) as Promise<BulkHijacked>;
  }

  private open(route: RouteName, opts: RequestOptions, bulk: boolean): Promise<Hijacked | BulkHijacked> {
    const { method, path } = this.target(route, opts);
    const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : null;
    let head = `${method} ${path} HTTP/1.1\r\nHost: api\r\nUser-Agent: node-garden\r\n`;
    if (body) head += `Content-Length: ${body.length}\r\nContent-Type: application/json\r\n`;
    else if (route !== 'Attach') head += 'Content-Type: application/json\r\n';
    head += '\r\n';
    return new Promise((resolve, reject) => {
      // Bulk: reads go through `onread` (slab buffers); the head parser is
      // the first consumer, then the caller's handler.
      let consume: (chunk: Buffer) => boolean = (chunk) => (onData(chunk), true);
      let onread: net.OnReadOpts | undefined;
      if (bulk) {
        const slabs = new SlabReader();
        onread = { buffer: slabs.next, callback: (n, buf) => consume(slabs.take(n, buf as Buffer)) };
      }
      const socket = 'socketPath' in this.address
        ? net.connect({ path: this.address.socketPath, onread })
        : net.connect({ port: this.address.port, host: this.address.host, onread });
      const timer = setTimeout(() => socket.destroy(new GardenError(`connect timeout after ${CONNECT_TIMEOUT_MS}ms`)), CONNECT_TIMEOUT_MS);
      let buf = Buffer.alloc(0);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(err);
      };
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);
      });
      socket.on('error', fail);
      socket.on('close', () => fail(new GardenError('connection closed before the response head')));
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const end = headEnd(buf);
        if (end < 0) {
          if (buf.length > 64 * 1024) fail(new GardenError('response head too large'));
          return;
        }
        let h;
        try {
          h = parseResponseHead(buf.subarray(0, end));
        } catch (err) {
          return fail(err as Error);
        }
        const rest = buf.subarray(end);
        if (h.status >= 200 && h.status < 300) {
          settled = true;
          socket.removeListener('data', onData);
          socket.removeListener('error', fail);
          socket.removeAllListeners('close');
          socket.pause();
          if (!bulk) return resolve({ socket, leftover: rest });
          consume = () => false; // paused: nothing arrives before onData
          resolve({ socket, leftover: rest, onData: (handler) => { consume = handler; } });
          return;
        }
        // An error answer: framed by Content-Length (or read to close).
        const len = Number(h.headers.get('content-length') ?? -1);
        if (len >= 0 && rest.length < len) return;
        settled = true;
        socket.destroy();
        reject(errorFrom(h.status, len >= 0 ? rest.subarray(0, len) : rest));
      };
      if (!bulk) socket.on('data', onData);
      socket.once('end', () => {
        const end = headEnd(buf);
        if (end >= 0 && !settled) {
          const h = parseResponseHead(buf.subarray(0, end));
          settled = true;
          reject(errorFrom(h.status, buf.subarray(end)));
        }
      });
    });
  }
}
