// A remote process: the client's side of the process protocol (§6). The
// control connection carries stdin/signals/resizes out and the exit status
// in; stdout and stderr arrive on their own connections. wait() resolves
// once the exit status has arrived and both output streams have been
// written into the caller's writers (which are never ended by us).

import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { GardenError } from '../api/errors.js';
import type { Process, ProcessIO, Signal } from '../api/garden.js';
import type { TTYSpec } from '../api/types.js';
import { ProcessPayload, type ProcessPayloadT } from '../wire/codec.js';
import { JsonStreamReader } from '../wire/ndjson.js';
import { decode, encode } from '../wire/schema.js';
import type { Connection } from './connection.js';

/** Reads the first payload off a fresh control connection. */
export function readFirstPayload(socket: Socket, leftover: Buffer): Promise<{ first: ProcessPayloadT; reader: JsonStreamReader; rest: ProcessPayloadT[] }> {
  const reader = new JsonStreamReader();
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      let values;
      try {
        values = reader.push(chunk).map((v) => decode<ProcessPayloadT>(ProcessPayload, v));
      } catch (err) {
        cleanup();
        socket.destroy();
        return reject(new GardenError(`decode failed: ${(err as Error).message}`));
      }
      if (!values.length) return;
      settled = true;
      cleanup();
      socket.pause();
      resolve({ first: values[0], reader, rest: values.slice(1) });
    };
    const onClose = () => { cleanup(); reject(new GardenError('decode failed: EOF')); };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => {});
    let settled = false;
    if (leftover.length) onData(leftover);
    // The first payload may already have been in the leftover bytes.
    if (!settled) socket.resume();
  });
}

export class ClientProcess implements Process {
  private exit: Promise<number>;
  private streamsDone: Promise<void>;
  private exitStatus: number | null = null;
  private finished = false;

  constructor(
    readonly id: string,
    private readonly control: Socket,
    reader: JsonStreamReader,
    pending: ProcessPayloadT[],
    outputs: Promise<void>[],
    stdin: ProcessIO['stdin'],
  ) {
    this.exit = new Promise<number>((resolve, reject) => {
      let settled = false;
      const settle = (msg: ProcessPayloadT): void => {
        // Go's client checks `error` before `exit_status`.
        if (msg.error === undefined && msg.exitStatus === undefined) return;
        settled = true;
        this.finished = true;
        control.off('data', onData);
        control.end();
        if (msg.error !== undefined) reject(new GardenError(`process error: ${msg.error}`));
        else {
          this.exitStatus = msg.exitStatus!;
          resolve(msg.exitStatus!);
        }
      };
      const onData = (chunk: Buffer): void => {
        let values;
        try {
          values = reader.push(chunk);
        } catch (err) {
          settled = true;
          control.destroy();
          return reject(new GardenError(`decode failed: ${(err as Error).message}`));
        }
        for (const v of values) {
          if (settled) return;
          try { settle(decode<ProcessPayloadT>(ProcessPayload, v)); } catch { /* ignored, as Go does */ }
        }
      };
      control.on('close', () => {
        this.finished = true;
        if (!settled) reject(new GardenError('decode failed: EOF'));
      });
      for (const msg of pending) if (!settled) settle(msg);
      if (!settled) {
        control.on('data', onData);
        control.resume();
      }
    });
    this.exit.catch(() => {});
    this.streamsDone = Promise.all(outputs).then(() => {});
    this.streamsDone.catch(() => {});
    if (stdin) this.pumpStdin(stdin);
  }

  private send(msg: ProcessPayloadT): boolean {
    return this.control.write(encode(ProcessPayload, { processId: this.id, ...msg }));
  }

  private pumpStdin(stdin: NonNullable<ProcessIO['stdin']>): void {
    // Decode UTF-8 across reads so a character split between two chunks survives.
    const dec = new StringDecoder('utf8');
    const onData = (chunk: Buffer | string) => {
      if (this.finished || this.control.destroyed) return;
      const text = typeof chunk === 'string' ? chunk : dec.write(chunk);
      if (text && !this.send({ source: 0, data: text })) {
        stdin.pause();
        this.control.once('drain', () => stdin.resume());
      }
    };
    stdin.on('data', onData);
    stdin.once('end', () => {
      if (this.finished || this.control.destroyed) return;
      const tail = dec.end();
      if (tail) this.send({ source: 0, data: tail });
      this.send({ source: 0 });
    });
    stdin.on('error', () => {}); // no EOF is sent on a failing stdin (as Go)
    void this.exit.catch(() => {}).finally(() => stdin.off('data', onData));
  }

  async wait(): Promise<number> {
    const [code] = await Promise.all([this.exit, this.streamsDone]);
    return code;
  }

  async setTTY(spec: TTYSpec): Promise<void> {
    if (this.finished || this.control.destroyed) return;
    this.send({ tty: spec });
  }

  async signal(signal: Signal): Promise<void> {
    if (this.finished || this.control.destroyed) {
      if (this.exitStatus !== null) return;
      throw new GardenError(`cannot signal process ${this.id}: connection closed`);
    }
    this.send({ signal: signal === 'kill' ? 1 : 0 });
  }
}

/**
 * Opens one output stream connection and copies it into `sink` (never
 * ending `sink`); the promise settles when the server closes the stream.
 */
export async function openOutput(
  conn: Connection, route: 'Stdout' | 'Stderr', handle: string, pid: string, streamId: string, sink: NonNullable<ProcessIO['stdout']>,
): Promise<{ done: Promise<void> }> {
  const { socket, leftover, onData } = await conn.hijackBulk(route, { params: { handle, pid, streamid: streamId } });
  const done = new Promise<void>((resolve, reject) => {
    let pending = 0;
    let ended = false;
    const maybeDone = () => { if (ended && pending <= 0) resolve(); };
    const written = () => { pending--; maybeDone(); };
    const resume = () => socket.resume();
    // Returns false (which pauses the socket) while the sink is full.
    const write = (chunk: Buffer): boolean => {
      pending++;
      if (sink.write(chunk, written)) return true;
      sink.once('drain', resume);
      return false;
    };
    onData(write);
    // A writer that fails must not stall the process: let the stream go, as
    // a reader that went away (the server then drops the rest).
    sink.once('error', () => {
      sink.off('drain', resume);
      ended = true;
      pending = 0;
      socket.destroy();
      maybeDone();
    });
    socket.on('end', () => { ended = true; maybeDone(); });
    socket.on('error', (err) => reject(new GardenError(`${route.toLowerCase()} stream failed: ${err.message}`)));
    socket.on('close', () => { if (!ended) reject(new GardenError(`${route.toLowerCase()} stream closed unexpectedly`)); });
    if (leftover.length && !write(leftover)) return;
    socket.resume();
  });
  done.catch(() => {});
  return { done };
}
