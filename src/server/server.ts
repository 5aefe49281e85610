// GardenServer: serves any Backend over Garden's HTTP protocol on a unix
// socket or TCP. Each new connection's request line is read first: the four
// hijacked routes are served raw (src/server/hijack.ts), everything else is
// handed to node:http (src/server/handlers.ts).

import { chmodSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Backend } from '../api/garden.js';
import { GardenError } from '../api/errors.js';
import { encodeError, errorStatus } from '../wire/errors.js';
import { HttpParseError, framedResponse } from '../wire/http.js';
import { HIJACKED, matchRoute } from '../wire/routes.js';
import type { Attachment } from './attachment.js';
import type { ServerContext } from './context.js';
import { createDebugServer } from './debug.js';
import { GraceReaper } from './grace.js';
import { HANDLERS, HttpError, sendError, sendJson } from './handlers.js';
import { handleHijacked, readRawRequest, sendHijackError } from './hijack.js';
import { type Logger, silentLogger } from './logger.js';
import { StreamRegistry } from './streams.js';
import { keepHeap } from '../initd/native.js';

export interface GardenServerOptions {
  /** Unix socket path (stale file removed, mode 0777). */
  bindSocket?: string;
  bindIp?: string;
  /** TCP port; 0 picks a free one (see `address()`). */
  bindPort?: number;
  /** ms substituted when Create has no grace time; 0 (default) = never. */
  defaultGraceTime?: number;
  logger?: Logger;
  /** Serves GET /debug/vars when set. */
  debugBindIp?: string;
  debugBindPort?: number;
  /** Limit for JSON request bodies (not StreamIn). Default 16 MiB. */
  maxBodyBytes?: number;
  /** Limit for a request head. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** How long a finished attachment's streams stay servable. Default 60 s. */
  streamRetentionMs?: number;
  /** Output buffered per stream before a reader connects. Default 1 MiB. */
  maxPendingOutputBytes?: number;
  /** A stream nobody connects to within this long stops holding the process back. Default 5 s. */
  unclaimedStreamMs?: number;
  /** How long close() waits for in-flight plain requests. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Also close the backend at close(). Default false (the caller owns it). */
  closeBackend?: boolean;
}

export type ServerAddress = { socket: string } | { host: string; port: number };

const REQUEST_LINE_MAX = 8 * 1024;
const REQUEST_LINE = /^([A-Z]+) ([^ ?#]*)(?:[?#]\S*)? HTTP\/1\.[01]$/;

export class GardenServer {
  private readonly ctx: ServerContext;
  private readonly opts: GardenServerOptions;
  private readonly net: net.Server;
  private readonly http: http.Server;
  private debug: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private inflight = 0;
  private idle: (() => void) | null = null;
  private closing = false;

  constructor(readonly backend: Backend, options: GardenServerOptions) {
    if (!options.bindSocket && options.bindPort === undefined) throw new GardenError('GardenServer needs bindSocket or bindIp/bindPort');
    this.opts = options;
    keepHeap();
    const log = options.logger ?? silentLogger;
    this.ctx = {
      backend,
      log,
      grace: new GraceReaper(backend, log),
      streams: new StreamRegistry({
        retainMs: options.streamRetentionMs ?? 60_000,
        maxPending: options.maxPendingOutputBytes ?? 1024 * 1024,
        unclaimedMs: options.unclaimedStreamMs ?? 5_000,
      }),
      attachments: new Set<Attachment>(),
      defaultGraceTime: options.defaultGraceTime ?? 0,
      maxBodyBytes: options.maxBodyBytes ?? 16 * 1024 * 1024,
      maxHeaderBytes: options.maxHeaderBytes ?? 64 * 1024,
    };
    this.http = http.createServer({
      maxHeaderSize: this.ctx.maxHeaderBytes,
      requestTimeout: 0, // long StreamIn uploads
      headersTimeout: 60_000,
    }, (req, res) => this.onRequest(req, res));
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.net = net.createServer((socket) => this.onConnection(socket));
  }

  /** Binds, arms grace countdowns for existing containers, starts serving. */
  async listen(): Promise<void> {
    const { bindSocket, bindIp, bindPort } = this.opts;
    if (bindSocket) {
      try {
        if (statSync(bindSocket).isSocket()) rmSync(bindSocket, { force: true });
      } catch { /* absent */ }
      await new Promise<void>((resolve, reject) => {
        this.net.once('error', reject);
        this.net.listen(bindSocket, () => { this.net.off('error', reject); resolve(); });
      });
      chmodSync(bindSocket, 0o777);
    } else {
      await new Promise<void>((resolve, reject) => {
        this.net.once('error', reject);
        this.net.listen(bindPort, bindIp ?? '0.0.0.0', () => { this.net.off('error', reject); resolve(); });
      });
    }
    if (this.opts.debugBindPort !== undefined) {
      const debug = createDebugServer();
      this.debug = debug;
      await new Promise<void>((resolve, reject) => {
        debug.once('error', reject);
        debug.listen(this.opts.debugBindPort, this.opts.debugBindIp ?? '127.0.0.1', () => resolve());
      });
    }
    this.ctx.log.info({ address: this.address() }, 'started');
    try {
      for (const c of await this.backend.containers()) void this.ctx.grace.restart(c.handle);
    } catch (err) {
      this.ctx.log.error({ err }, 'failed-to-restore-grace-timers');
    }
  }

  address(): ServerAddress {
    if (this.opts.bindSocket) return { socket: this.opts.bindSocket };
    const a = this.net.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  debugAddress(): { host: string; port: number } | null {
    const a = this.debug?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : null;
  }

  /**
   * Stops accepting, detaches hijacked connections (processes keep running),
   * waits for in-flight plain requests, then closes what is left.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.net.close(() => resolve()));
    this.http.closeIdleConnections();
    for (const a of this.ctx.attachments) a.abort();
    this.ctx.streams.close();
    this.ctx.grace.close();
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.shutdownTimeoutMs ?? 30_000);
        this.idle = () => { clearTimeout(t); resolve(); };
      });
    }
    for (const s of this.sockets) s.destroy();
    await stopped;
    if (this.debug) await new Promise<void>((resolve) => this.debug!.close(() => resolve()));
    if (this.opts.closeBackend) await this.backend.close();
    this.ctx.log.info({}, 'stopped');
  }

  private onConnection(socket: Socket): void {
    if (this.closing) return void socket.destroy();
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), 60_000);
    timer.unref();
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const eol = buf.indexOf('\r\n');
      if (eol < 0 && buf.length < REQUEST_LINE_MAX) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.pause();
      const line = eol < 0 ? '' : buf.toString('latin1', 0, eol);
      const m = REQUEST_LINE.exec(line);
      const match = m ? matchRoute(m[1], m[2]) : null;
      if (match?.kind === 'found' && HIJACKED.has(match.route.name)) {
        void this.serveHijacked(socket, buf, match.route.name, match.params);
      } else if (eol < 0) {
        socket.end(framedResponse(414, encodeError(new GardenError('request line too long')), [['Connection', 'close']]));
      } else {
        // Everything else is plain HTTP: replay the bytes into node:http.
        socket.unshift(buf);
        this.http.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  private async serveHijacked(socket: Socket, initial: Buffer, route: string, params: Record<string, string>): Promise<void> {
    let req;
    try {
      req = await readRawRequest(socket, initial, this.ctx);
    } catch (err) {
      const status = err instanceof HttpParseError ? err.status : 400;
      return sendHijackError(socket, new GardenError((err as Error).message), status);
    }
    try {
      await handleHijacked(this.ctx, socket, route, params, req);
    } catch (err) {
      this.ctx.log.error({ err, route }, 'hijacked-request-failed');
      sendHijackError(socket, err);
    }
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inflight++;
    res.on('close', () => {
      if (--this.inflight === 0 && this.idle) this.idle();
    });
    void this.dispatch(req, res).catch((err: unknown) => {
      const level = errorStatus(err) === 404 || err instanceof HttpError ? 'debug' : 'error';
      this.ctx.log[level]({ err, method: req.method, url: req.url }, 'request-failed');
      if (err instanceof HttpError && err.status === 413) {
        // Do not read an oversized body to its end; answer and hang up.
        const socket = req.socket as Socket | null;
        res.setHeader('Connection', 'close');
        res.on('finish', () => setTimeout(() => socket?.destroy(), 1000).unref());
        req.resume();
      }
      sendError(req, res, err);
    });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.search(/[?#]/);
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 || url[q] === '#' ? '' : url.slice(q + 1).split('#')[0]);
    const match = matchRoute(req.method ?? '', path);
    if (match.kind === 'none') throw new HttpError('404 page not found', 404);
    if (match.kind === 'bad') throw new HttpError(match.message, 400);
    if (match.kind === 'method') {
      res.setHeader('Allow', match.allow.join(', '));
      throw new HttpError('Method Not Allowed', 405);
    }
    const name = match.route.name;
    const handler = HANDLERS[name];
    if (!handler || HIJACKED.has(name)) {
      throw new HttpError(`${name} must be the first request on a new connection`, 400);
    }
    const body = await handler(this.ctx, req, res, match.params, query);
    if (typeof body === 'string') sendJson(req, res, 200, body);
    this.ctx.log.debug({ route: name, params: match.params }, 'request');
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    socket.end(framedResponse(status, encodeError(new GardenError(`bad request: ${err.code ?? err.message}`)), [['Connection', 'close']]));
  }
}
