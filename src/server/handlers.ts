// The 24 plain (non-hijacked) routes: decode, call the backend, encode
// (protocol §5). Bodies are decoded before the container is looked up, and
// every route that looks a container up pauses its grace countdown.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { GardenError, InvalidSpecError } from '../api/errors.js';
import type { Container } from '../api/garden.js';
import type { ContainerSpec, InfoEntry, MetricsEntry, NetOutRule, Properties } from '../api/types.js';
import * as C from '../wire/codec.js';
import { encodeError, errorStatus } from '../wire/errors.js';
import { JsonNumber, type JsonValue, JsonSyntaxError, parseFirstJson, quote, sortKeys } from '../wire/json.js';
import type { Params, RouteName } from '../wire/routes.js';
import { WireDecodeError, decode, encode, encodeStruct, nsToMs } from '../wire/schema.js';
import type { ServerContext } from './context.js';

export class HttpError extends GardenError {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  const buf = Buffer.from(body);
  // Go's header order: Content-Type, Date, Content-Length, Connection.
  res.sendDate = false;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Date', new Date().toUTCString());
  res.setHeader('Content-Length', buf.length);
  if (/\bclose\b/i.test(req.headers.connection ?? '')) res.setHeader('Connection', 'close');
  res.end(buf);
}

export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const status = err instanceof HttpError ? err.status : errorStatus(err);
  sendJson(req, res, status, encodeError(err));
}

/** Reads a JSON body (bounded) and parses its first value, as Go does. */
async function readJson(req: IncomingMessage, max: number): Promise<JsonValue> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(`request body too large (limit ${max} bytes)`, 413);
    chunks.push(chunk);
  }
  try {
    return parseFirstJson(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new GardenError(err.message);
    throw err;
  }
}

const EMPTY = '{}\n';

type Handler = (ctx: ServerContext, req: IncomingMessage, res: ServerResponse, params: Params, query: URLSearchParams) => Promise<string | void>;

/** Looks the container up with its countdown paused for the duration of `fn`. */
async function withContainer<T>(ctx: ServerContext, handle: string, fn: (c: Container) => Promise<T>): Promise<T> {
  const release = ctx.grace.hold(handle);
  try {
    return await fn(await ctx.backend.lookup(handle));
  } finally {
    release();
  }
}

function bulkEntries(entries: Record<string, InfoEntry | MetricsEntry>, key: 'Info' | 'Metrics'): string {
  const parts = sortKeys(Object.keys(entries)).map((h) => {
    const e = entries[h] as { info?: object; metrics?: object; error?: Error };
    const value = key === 'Info'
      ? encodeStruct(C.ContainerInfo, (e.info ?? {}) as Record<string, unknown>)
      : encodeStruct(C.Metrics, (e.metrics ?? {}) as Record<string, unknown>);
    const err = e.error ? encodeError(e.error).trimEnd() : 'null';
    return `${quote(h)}:{"${key}":${value},"Err":${err}}`;
  });
  return `{${parts.join(',')}}\n`;
}

const handles = (q: URLSearchParams): string[] => {
  const v = q.get('handles');
  return v ? v.split(',') : [];
};

export const HANDLERS: Partial<Record<RouteName, Handler>> = {
  async Ping(ctx) {
    await ctx.backend.ping();
    return EMPTY;
  },
  async Capacity(ctx) {
    return encode(C.Capacity, await ctx.backend.capacity());
  },
  async List(ctx, _req, _res, _p, q) {
    const filter: Properties = {};
    for (const [k, v] of q) if (!(k in filter)) filter[k] = v;
    const list = await ctx.backend.containers(Object.keys(filter).length ? filter : undefined);
    return encode(C.ListResponse, { handles: list.map((c) => c.handle) });
  },
  async Create(ctx, req) {
    const spec = decode<ContainerSpec>(C.ContainerSpec, await readJson(req, ctx.maxBodyBytes));
    if ((spec.graceTime ?? 0) < 0) throw new InvalidSpecError(`invalid grace time: ${spec.graceTime}ms`);
    if (!spec.graceTime) spec.graceTime = ctx.defaultGraceTime;
    const container = await ctx.backend.create(spec);
    ctx.grace.set(container.handle, spec.graceTime);
    ctx.log.info({ handle: container.handle }, 'created');
    return encode(C.CreateResponse, { handle: container.handle });
  },
  async Info(ctx, _req, _res, p) {
    return encode(C.ContainerInfo, await withContainer(ctx, p.handle, (c) => c.info()));
  },
  async BulkInfo(ctx, _req, _res, _p, q) {
    return bulkEntries(await ctx.backend.bulkInfo(handles(q)), 'Info');
  },
  async BulkMetrics(ctx, _req, _res, _p, q) {
    return bulkEntries(await ctx.backend.bulkMetrics(handles(q)), 'Metrics');
  },
  async Destroy(ctx, _req, _res, p) {
    await ctx.grace.destroy(p.handle);
    ctx.log.info({ handle: p.handle }, 'destroyed');
    return EMPTY;
  },
  async Stop(ctx, req, _res, p) {
    const { kill } = decode<{ kill: boolean }>(C.StopRequest, await readJson(req, ctx.maxBodyBytes));
    await withContainer(ctx, p.handle, (c) => c.stop(kill));
    return EMPTY;
  },
  async CurrentBandwidthLimits(ctx, _req, _res, p) {
    return encode(C.BandwidthLimits, await withContainer(ctx, p.handle, (c) => c.currentBandwidthLimits()));
  },
  async CurrentCPULimits(ctx, _req, _res, p) {
    return encode(C.CPULimits, await withContainer(ctx, p.handle, (c) => c.currentCPULimits()));
  },
  async CurrentDiskLimits(ctx, _req, _res, p) {
    return encode(C.DiskLimits, await withContainer(ctx, p.handle, (c) => c.currentDiskLimits()));
  },
  async CurrentMemoryLimits(ctx, _req, _res, p) {
    return encode(C.MemoryLimits, await withContainer(ctx, p.handle, (c) => c.currentMemoryLimits()));
  },
  async NetIn(ctx, req, _res, p) {
    const r = decode<{ hostPort: number; containerPort: number }>(C.NetInRequest, await readJson(req, ctx.maxBodyBytes));
    const out = await withContainer(ctx, p.handle, (c) => c.netIn(r.hostPort, r.containerPort));
    return encode(C.NetInResponse, out);
  },
  async NetOut(ctx, req, _res, p) {
    const rule = decode<NetOutRule>(C.NetOutRule, await readJson(req, ctx.maxBodyBytes));
    await withContainer(ctx, p.handle, (c) => c.netOut(rule));
    return EMPTY;
  },
  async BulkNetOut(ctx, req, _res, p) {
    const body = await readJson(req, ctx.maxBodyBytes);
    if (body !== null && !Array.isArray(body)) throw new WireDecodeError('json: cannot unmarshal object into Go value of type []garden.NetOutRule');
    const rules = (body ?? []).map((r) => decode<NetOutRule>(C.NetOutRule, r));
    await withContainer(ctx, p.handle, (c) => c.bulkNetOut(rules));
    return EMPTY;
  },
  async SetGraceTime(ctx, req, _res, p) {
    const body = await readJson(req, ctx.maxBodyBytes);
    if (!(body instanceof JsonNumber) || !/^-?\d+$/.test(body.text)) {
      throw new WireDecodeError('json: cannot unmarshal value into Go value of type time.Duration');
    }
    const ns = BigInt(body.text);
    if (ns < 0n || ns >= 2n ** 63n) throw new InvalidSpecError(`invalid grace time: ${body.text}ns`);
    const ms = nsToMs(ns);
    const container = await ctx.backend.lookup(p.handle);
    // A storage failure is only logged; the countdown still restarts (§5.23).
    await container.setGraceTime(ms).catch((err: unknown) => ctx.log.error({ err, handle: p.handle }, 'set-grace-time-failed'));
    ctx.grace.set(p.handle, ms);
    return EMPTY;
  },
  async Properties(ctx, _req, _res, p) {
    const props = await withContainer(ctx, p.handle, (c) => c.properties());
    return propsJson(props);
  },
  async Property(ctx, _req, _res, p) {
    const value = await withContainer(ctx, p.handle, (c) => c.property(p.key));
    return encode(C.PropertyValue, { value });
  },
  async SetProperty(ctx, req, _res, p) {
    const { value } = decode<{ value: string }>(C.PropertyValue, await readJson(req, ctx.maxBodyBytes));
    await withContainer(ctx, p.handle, (c) => c.setProperty(p.key, value));
    return EMPTY;
  },
  async RemoveProperty(ctx, _req, _res, p) {
    await withContainer(ctx, p.handle, (c) => c.removeProperty(p.key));
    return EMPTY;
  },
  async Metrics(ctx, _req, _res, p) {
    return encode(C.Metrics, await withContainer(ctx, p.handle, (c) => c.metrics()));
  },
  async StreamIn(ctx, req, _res, p, q) {
    const path = q.get('destination') ?? '';
    const user = q.get('user') ?? '';
    // The backend gets its own stream, so destroying it leaves our socket
    // intact for the answer; whatever it leaves unread is drained.
    const tar = new PassThrough();
    req.pipe(tar);
    try {
      await withContainer(ctx, p.handle, (c) => c.streamIn({ path, user, tarStream: tar }));
    } catch (err) {
      req.unpipe(tar);
      tar.destroy();
      req.resume();
      throw err;
    }
    req.unpipe(tar);
    req.resume();
    return EMPTY;
  },
  async StreamOut(ctx, _req, res, p, q) {
    const path = q.get('source') ?? '';
    const user = q.get('user') ?? '';
    const release = ctx.grace.hold(p.handle);
    let source: Readable | undefined;
    try {
      const container = await ctx.backend.lookup(p.handle);
      source = await container.streamOut({ path, user });
      const first = await firstChunk(source);
      res.sendDate = false;
      res.writeHead(200, { 'Content-Type': 'application/x-tar', Date: new Date().toUTCString() });
      if (first) res.write(first);
    } catch (err) {
      source?.destroy();
      release();
      throw err;
    }
    await pump(source, res).catch((err: unknown) => {
      ctx.log.error({ err, handle: p.handle }, 'stream-out-failed');
      // Abort rather than end cleanly: a truncated tar must not look whole (§7.2).
      res.destroy();
    }).finally(release);
  },
};

function propsJson(props: Properties): string {
  return '{' + sortKeys(Object.keys(props)).map((k) => quote(k) + ':' + quote(props[k])).join(',') + '}\n';
}

/** The first chunk (null at immediate EOF); rejects if the source fails first. */
function firstChunk(src: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', onError);
    };
    const onData = (c: Buffer) => { src.pause(); cleanup(); resolve(c); };
    const onEnd = () => { cleanup(); resolve(null); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    src.on('data', onData);
    src.on('end', onEnd);
    src.on('error', onError);
  });
}

/** Copies with backpressure; ends `res` on clean EOF; destroys `src` if the client leaves. */
function pump(src: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => {
      if (!res.writableFinished) {
        src.destroy();
        resolve();
      }
    };
    res.on('close', onClose);
    // 'end' may already have fired while paused after the first chunk.
    if (src.readableEnded) return void res.end(() => resolve());
    src.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        src.pause();
        res.once('drain', () => src.resume());
      }
    });
    src.on('end', () => {
      res.end(() => resolve());
    });
    src.on('error', reject);
    src.resume();
  });
}
