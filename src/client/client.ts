// GardenClient: the Garden interface over the wire protocol, so switching
// between an embedded backend and a remote server is one line.

import { ContainerNotFoundError } from '../api/errors.js';
import type { Backend, Container } from '../api/garden.js';
import type { Capacity, ContainerInfo, ContainerSpec, InfoEntry, Metrics, MetricsEntry, Properties } from '../api/types.js';
import * as C from '../wire/codec.js';
import { decodeError } from '../wire/errors.js';
import { type JsonObject, type JsonValue, JsonNumber } from '../wire/json.js';
import { decode, encode } from '../wire/schema.js';
import { type Address, Connection, parseAddress } from './connection.js';
import { ClientContainer } from './container.js';
import { keepHeap } from '../initd/native.js';

export class GardenClient implements Backend {
  private readonly conn: Connection;

  /** `unix:///path/to/garden.sock` or `tcp://host:port`. */
  constructor(address: string | Address) {
    keepHeap();
    this.conn = new Connection(typeof address === 'string' ? parseAddress(address) : address);
  }

  async ping(): Promise<void> {
    await this.conn.json('Ping');
  }

  async capacity(): Promise<Capacity> {
    return decode(C.Capacity, await this.conn.json('Capacity'));
  }

  async create(spec: ContainerSpec): Promise<Container> {
    const v = await this.conn.json('Create', { body: encode(C.ContainerSpec, spec) });
    return new ClientContainer(this.conn, decode<{ handle: string }>(C.CreateResponse, v).handle);
  }

  async destroy(handle: string): Promise<void> {
    await this.conn.json('Destroy', { params: { handle } });
  }

  async containers(properties: Properties = {}): Promise<Container[]> {
    const v = await this.conn.json('List', { query: properties });
    return decode<{ handles: string[] }>(C.ListResponse, v).handles.map((h) => new ClientContainer(this.conn, h));
  }

  async bulkInfo(handles: string[]): Promise<Record<string, InfoEntry>> {
    const v = await this.conn.json('BulkInfo', { query: { handles: handles.join(',') } });
    return bulk<InfoEntry>(v, 'Info', (x) => ({ info: decode<ContainerInfo>(C.ContainerInfo, x) }), (e) => ({ error: e }));
  }

  async bulkMetrics(handles: string[]): Promise<Record<string, MetricsEntry>> {
    const v = await this.conn.json('BulkMetrics', { query: { handles: handles.join(',') } });
    return bulk<MetricsEntry>(v, 'Metrics', (x) => ({ metrics: decode<Metrics>(C.Metrics, x) }), (e) => ({ error: e }));
  }

  /** As Go's client: an unfiltered list, searched here. */
  async lookup(handle: string): Promise<Container> {
    const all = await this.containers();
    const found = all.find((c) => c.handle === handle);
    if (!found) throw new ContainerNotFoundError(handle);
    return found;
  }

  /** Nothing to release: every request uses its own connection. */
  async close(): Promise<void> {}
}

function bulk<T>(v: JsonValue, key: string, ok: (x: JsonValue) => T, fail: (e: Error) => T): Record<string, T> {
  const out: Record<string, T> = {};
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) return out;
  for (const [h, entry] of Object.entries(v)) {
    const e = (entry ?? {}) as JsonObject;
    out[h] = e.Err != null ? fail(decodeError(e.Err)) : ok(e[key] ?? null);
  }
  return out;
}
