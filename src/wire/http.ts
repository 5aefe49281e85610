// Minimal HTTP/1.1 head parsing and writing for the hijacked connections
// (protocol §1.8), where node:http cannot be used.

export interface Head {
  /** Request: method; response: '' */
  method: string;
  /** Request: target; response: reason phrase */
  target: string;
  version: string;
  status: number;
  headers: Map<string, string>;
}

/** Offset just past the blank line ending the head, or -1. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class HttpParseError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

function parseHeaders(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpParseError(`malformed header line`);
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new HttpParseError(`malformed header name`);
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return headers;
}

export function parseRequestHead(head: Buffer): Head {
  const lines = head.toString('latin1').split('\r\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const m = /^([A-Z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError('malformed request line');
  return { method: m[1], target: m[2], version: m[3], status: 0, headers: parseHeaders(lines.slice(1)) };
}

export function parseResponseHead(head: Buffer): Head {
  const lines = head.toString('latin1').split('\r\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError('malformed status line');
  return { method: '', target: m[3] ?? '', version: m[1], status: Number(m[2]), headers: parseHeaders(lines.slice(1)) };
}

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
  413: 'Payload Too Large', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
};

export function reason(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** Go's http.TimeFormat: `Tue, 24 Nov 2026 21:17:45 GMT`. */
export function httpDate(d = new Date()): string {
  return d.toUTCString();
}

/**
 * A response head that Go's client will hand over as a hijacked connection:
 * HTTP/1.1, chunked framing announced, never `Connection: close` (§1.8).
 */
export function hijackHead(status: number, json: boolean): string {
  return `HTTP/1.1 ${status} ${reason(status)}\r\n` +
    (json ? 'Content-Type: application/json\r\n' : '') +
    `Date: ${httpDate()}\r\n` +
    'Transfer-Encoding: chunked\r\n\r\n';
}

/** A complete error response on a hijacked route: framed by Content-Length (§1.8 rule 4). */
export function framedResponse(status: number, body: string, extra: [string, string][] = []): Buffer {
  const b = Buffer.from(body);
  const head = `HTTP/1.1 ${status} ${reason(status)}\r\n` +
    'Content-Type: application/json\r\n' +
    extra.map(([k, v]) => `${k}: ${v}\r\n`).join('') +
    `Date: ${httpDate()}\r\n` +
    `Content-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}
