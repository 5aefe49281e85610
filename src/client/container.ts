// A remote container: every per-container route (protocol §5.5-5.28).

import type { Readable } from 'node:stream';
import { GardenError } from '../api/errors.js';
import type { AttachOffsets, Container, Process, ProcessIO, StreamInSpec, StreamOutSpec } from '../api/garden.js';
import type {
  BandwidthLimits, CPULimits, ContainerInfo, DiskLimits, MemoryLimits, Metrics, NetOutRule, ProcessSpec, Properties,
} from '../api/types.js';
import * as C from '../wire/codec.js';
import type { RouteName } from '../wire/routes.js';
import { type Schema, decode, decodeValue, encode, encodeStruct, msToNs } from '../wire/schema.js';
import type { Connection } from './connection.js';
import { ClientProcess, openOutput, readFirstPayload } from './process.js';

export class ClientContainer implements Container {
  constructor(private readonly conn: Connection, readonly handle: string) {}

  private get params() {
    return { handle: this.handle };
  }

  private async get<T>(route: RouteName, schema: Schema): Promise<T> {
    return decode<T>(schema, await this.conn.json(route, { params: this.params }));
  }

  private async send(route: RouteName, body: string, extra: Record<string, string> = {}): Promise<void> {
    await this.conn.json(route, { params: { ...this.params, ...extra }, body });
  }

  async stop(kill: boolean): Promise<void> {
    await this.send('Stop', encode(C.StopRequest, { kill }));
  }

  info(): Promise<ContainerInfo> {
    return this.get('Info', C.ContainerInfo);
  }

  async streamIn(spec: StreamInSpec): Promise<void> {
    const res = await this.conn.request('StreamIn', {
      params: this.params,
      query: { destination: spec.path, user: spec.user ?? '' },
      body: spec.tarStream,
    });
    res.resume();
  }

  async streamOut(spec: StreamOutSpec): Promise<Readable> {
    return this.conn.request('StreamOut', { params: this.params, query: { source: spec.path, user: spec.user ?? '' } });
  }

  currentBandwidthLimits(): Promise<BandwidthLimits> {
    return this.get('CurrentBandwidthLimits', C.BandwidthLimits);
  }

  currentCPULimits(): Promise<CPULimits> {
    return this.get('CurrentCPULimits', C.CPULimits);
  }

  currentDiskLimits(): Promise<DiskLimits> {
    return this.get('CurrentDiskLimits', C.DiskLimits);
  }

  currentMemoryLimits(): Promise<MemoryLimits> {
    return this.get('CurrentMemoryLimits', C.MemoryLimits);
  }

  async netIn(hostPort: number, containerPort: number): Promise<{ hostPort: number; containerPort: number }> {
    const v = await this.conn.json('NetIn', {
      params: this.params,
      body: encode(C.NetInRequest, { handle: this.handle, hostPort, containerPort }),
    });
    return decode(C.NetInResponse, v);
  }

  async netOut(rule: NetOutRule): Promise<void> {
    await this.send('NetOut', encode(C.NetOutRule, rule));
  }

  async bulkNetOut(rules: NetOutRule[]): Promise<void> {
    await this.send('BulkNetOut', '[' + rules.map((r) => encodeStruct(C.NetOutRule, r as Record<string, unknown>)).join(',') + ']\n');
  }

  run(spec: ProcessSpec, io: ProcessIO): Promise<Process> {
    return this.stream('Run', { params: this.params, body: encode(C.ProcessSpec, spec) }, io);
  }

  attach(processId: string, io: ProcessIO, _offsets?: AttachOffsets): Promise<Process> {
    return this.stream('Attach', { params: { ...this.params, pid: processId } }, io);
  }

  private async stream(route: 'Run' | 'Attach', opts: { params: Record<string, string>; body?: string }, io: ProcessIO): Promise<Process> {
    const { socket, leftover } = await this.conn.hijack(route, opts);
    const { first, reader, rest } = await readFirstPayload(socket, leftover);
    const pid = first.processId ?? '';
    const streamId = first.streamId ?? '';
    // Open the output streams before returning, sequentially, as Go does.
    const outputs: Promise<void>[] = [];
    for (const [name, sink] of [['Stdout', io.stdout], ['Stderr', io.stderr]] as const) {
      if (!sink) continue;
      try {
        const { done } = await openOutput(this.conn, name, this.handle, pid, streamId, sink);
        outputs.push(done);
      } catch (err) {
        // Run still succeeds; wait() reports the failure (§6.6).
        socket.destroy();
        const failed = Promise.reject(new GardenError(`failed to hijack stream ${name}: ${(err as Error).message}`));
        failed.catch(() => {});
        outputs.push(failed);
        break;
      }
    }
    return new ClientProcess(pid, socket, reader, rest, outputs, io.stdin);
  }

  async metrics(): Promise<Metrics> {
    return this.get('Metrics', C.Metrics);
  }

  async setGraceTime(ms: number): Promise<void> {
    await this.send('SetGraceTime', msToNs(ms).toString() + '\n');
  }

  async properties(): Promise<Properties> {
    const v = await this.conn.json('Properties', { params: this.params });
    return decodeValue({ map: 'string' }, v, 'Properties') as Properties;
  }

  async property(name: string): Promise<string> {
    const v = await this.conn.json('Property', { params: { ...this.params, key: name } });
    return decode<{ value: string }>(C.PropertyValue, v).value;
  }

  async setProperty(name: string, value: string): Promise<void> {
    await this.send('SetProperty', encode(C.PropertyValue, { value }), { key: name });
  }

  async removeProperty(name: string): Promise<void> {
    await this.conn.json('RemoveProperty', { params: { ...this.params, key: name } });
  }
}
