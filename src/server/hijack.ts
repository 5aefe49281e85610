// The four hijacked routes (Run, Attach, Stdout, Stderr) on a raw socket:
// node:http would parse the NDJSON that follows the request as another
// request, so the head and body are read here (protocol §1.8, §6).

import type { Socket } from 'node:net';
import { Attachment } from './attachment.js';
import type { ServerContext } from './context.js';
import type { Process } from '../api/garden.js';
import type { ProcessSpec } from '../api/types.js';
import { ProcessSpec as ProcessSpecSchema } from '../wire/codec.js';
import { encodeError, errorStatus } from '../wire/errors.js';
import { type Head, HttpParseError, framedResponse, headEnd, parseRequestHead } from '../wire/http.js';
import { JsonSyntaxError, parseFirstJson } from '../wire/json.js';
import type { Params } from '../wire/routes.js';
import { decode } from '../wire/schema.js';
import { GardenError } from '../api/errors.js';

interface RawRequest { head: Head; body: Buffer; leftover: Buffer }

/** Reads head and body off a raw socket. `initial` holds bytes already read. */
export function readRawRequest(socket: Socket, initial: Buffer, ctx: ServerContext): Promise<RawRequest> {
  return new Promise((resolve, reject) => {
    let buf = initial;
    let head: Head | null = null;
    let bodyStart = 0;
    let bodyLen = 0;
    let chunked = false;
    const done = (err: Error | null, value?: RawRequest) => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onClose = () => done(new HttpParseError('connection closed'));
    const step = (): void => {
      if (!head) {
        const end = headEnd(buf);
        if (end < 0) {
          if (buf.length > ctx.maxHeaderBytes) return done(new HttpParseError('request header too large', 431));
          return;
        }
        if (end > ctx.maxHeaderBytes) return done(new HttpParseError('request header too large', 431));
        try {
          head = parseRequestHead(buf.subarray(0, end));
        } catch (e) {
          return done(e as Error);
        }
        bodyStart = end;
        const te = head.headers.get('transfer-encoding');
        const cl = head.headers.get('content-length');
        if (te !== undefined) {
          if (te.toLowerCase() !== 'chunked') return done(new HttpParseError('unsupported transfer encoding'));
          chunked = true;
        } else if (cl !== undefined) {
          if (!/^\d+$/.test(cl)) return done(new HttpParseError('bad content length'));
          bodyLen = Number(cl);
          if (bodyLen > ctx.maxBodyBytes) return done(new HttpParseError('request body too large', 413));
        }
      }
      if (chunked) {
        const r = dechunk(buf, bodyStart, ctx.maxBodyBytes);
        if (r === 'incomplete') return;
        if (r instanceof Error) return done(r);
        return done(null, { head, body: r.body, leftover: buf.subarray(r.end) });
      }
      if (buf.length - bodyStart < bodyLen) return;
      done(null, { head, body: buf.subarray(bodyStart, bodyStart + bodyLen), leftover: buf.subarray(bodyStart + bodyLen) });
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      step();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    step();
    socket.resume();
  });
}

/** Decodes a complete chunked body starting at `at`. */
function dechunk(buf: Buffer, at: number, max: number): { body: Buffer; end: number } | 'incomplete' | Error {
  const parts: Buffer[] = [];
  let total = 0;
  let i = at;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return buf.length - i > 1024 ? new HttpParseError('bad chunk size') : 'incomplete';
    const m = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(buf.toString('latin1', i, eol));
    if (!m) return new HttpParseError('bad chunk size');
    const size = parseInt(m[1], 16);
    i = eol + 2;
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      const end = buf.indexOf('\r\n', i);
      if (end < 0) return 'incomplete';
      if (end === i) return { body: Buffer.concat(parts), end: i + 2 };
      const fin = buf.indexOf('\r\n\r\n', i);
      return fin < 0 ? 'incomplete' : { body: Buffer.concat(parts), end: fin + 4 };
    }
    total += size;
    if (total > max) return new HttpParseError('request body too large', 413);
    if (buf.length < i + size + 2) return 'incomplete';
    parts.push(buf.subarray(i, i + size));
    i += size + 2;
  }
}

/** An error on a hijacked route, framed so Go's client can read it (§1.8 rule 4). */
export function sendHijackError(socket: Socket, err: unknown, status = errorStatus(err)): void {
  if (socket.destroyed) return;
  socket.end(framedResponse(status, encodeError(err)));
}

export async function handleHijacked(
  ctx: ServerContext, socket: Socket, route: string, params: Params, req: RawRequest,
): Promise<void> {
  switch (route) {
    case 'Stdout':
    case 'Stderr': {
      // Only the stream id matters (§5.21); unknown ids get an empty stream.
      const pair = ctx.streams.get(params.streamid);
      const sink = pair && (route === 'Stdout' ? pair.stdout : pair.stderr);
      // Go clients open stdout before stderr: no stdout by now means none.
      if (pair && route === 'Stderr') pair.stdout.unclaim();
      if (sink) sink.connect(socket);
      else socket.end(emptyStreamHead());
      return;
    }
    case 'Run':
    case 'Attach':
      return runOrAttach(ctx, socket, route, params, req);
  }
}

function emptyStreamHead(): string {
  return `HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\nTransfer-Encoding: chunked\r\n\r\n`;
}

async function runOrAttach(ctx: ServerContext, socket: Socket, route: string, params: Params, req: RawRequest): Promise<void> {
  let spec: ProcessSpec | undefined;
  if (route === 'Run') {
    // Body before lookup, as Go does (§1.6).
    try {
      spec = decode<ProcessSpec>(ProcessSpecSchema, parseFirstJson(req.body.toString('utf8')));
    } catch (err) {
      return sendHijackError(socket, err instanceof JsonSyntaxError ? new GardenError(err.message) : err, 500);
    }
  }
  const handle = params.handle;
  let release = (): void => {};
  let attachment: Attachment | null = null;
  let closedEarly = false;
  const onEarlyClose = () => { closedEarly = true; };
  socket.once('close', onEarlyClose);
  try {
    const container = await ctx.backend.lookup(handle);
    release = ctx.grace.hold(handle);
    const a = new Attachment(ctx.streams, ctx.log, () => {
      ctx.attachments.delete(a);
      release();
    });
    attachment = a;
    let process: Process;
    if (spec) process = await container.run(spec, attachment.io);
    else process = await container.attach(params.pid, attachment.io);
    socket.removeListener('close', onEarlyClose);
    if (closedEarly || socket.destroyed) {
      // The client left while the process was starting; it keeps running.
      attachment.cancel();
      return;
    }
    ctx.attachments.add(attachment);
    attachment.start(socket, req.leftover, process, route === 'Run' ? 201 : 200);
    ctx.log.debug({ handle, processId: process.id, streamId: attachment.streamId }, route === 'Run' ? 'run' : 'attach');
  } catch (err) {
    socket.removeListener('close', onEarlyClose);
    if (attachment) attachment.cancel();
    else release();
    ctx.log.debug({ err, handle, route }, 'process-request-failed');
    sendHijackError(socket, err);
  }
}
