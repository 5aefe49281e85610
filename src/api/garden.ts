// The contract every backend, the server and the client meet at — Garden's
// client.go / container.go / backend.go, one to one, in camelCase.

import type { Readable, Writable } from 'node:stream';
import type {
  BandwidthLimits, CPULimits, Capacity, ContainerInfo, ContainerSpec, DiskLimits,
  InfoEntry, MemoryLimits, Metrics, MetricsEntry, NetOutRule, ProcessSpec, Properties, TTYSpec,
} from './types.js';

export interface Garden {
  ping(): Promise<void>;
  capacity(): Promise<Capacity>;
  create(spec: ContainerSpec): Promise<Container>;
  destroy(handle: string): Promise<void>;
  /** Containers whose properties include every given key=value. */
  containers(properties?: Properties): Promise<Container[]>;
  bulkInfo(handles: string[]): Promise<Record<string, InfoEntry>>;
  bulkMetrics(handles: string[]): Promise<Record<string, MetricsEntry>>;
  lookup(handle: string): Promise<Container>;
}

/** A Garden plus what a server needs to run it (grace-time reaping, shutdown). */
export interface Backend extends Garden {
  /** Releases resources; containers and processes keep running. */
  close(): Promise<void>;
  /**
   * The container's stored grace time in ms (0 = never reaped), as last set
   * by create or setGraceTime; a server reads it whenever it (re)arms the
   * container's countdown. Optional: without it a server only reaps
   * containers whose grace time it has seen itself.
   */
  graceTime?(handle: string): Promise<number>;
}

export interface ProcessIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

/** Where to resume output after a crash: byte offsets into each stream. */
export interface AttachOffsets {
  stdoutOffset?: number;
  stderrOffset?: number;
}

export interface StreamInSpec {
  path: string;
  user?: string;
  tarStream: Readable;
}

export interface StreamOutSpec {
  path: string;
  user?: string;
}

export interface Container {
  readonly handle: string;
  stop(kill: boolean): Promise<void>;
  info(): Promise<ContainerInfo>;
  streamIn(spec: StreamInSpec): Promise<void>;
  streamOut(spec: StreamOutSpec): Promise<Readable>;
  currentBandwidthLimits(): Promise<BandwidthLimits>;
  currentCPULimits(): Promise<CPULimits>;
  currentDiskLimits(): Promise<DiskLimits>;
  currentMemoryLimits(): Promise<MemoryLimits>;
  netIn(hostPort: number, containerPort: number): Promise<{ hostPort: number; containerPort: number }>;
  netOut(rule: NetOutRule): Promise<void>;
  bulkNetOut(rules: NetOutRule[]): Promise<void>;
  run(spec: ProcessSpec, io: ProcessIO): Promise<Process>;
  attach(processId: string, io: ProcessIO, offsets?: AttachOffsets): Promise<Process>;
  metrics(): Promise<Metrics>;
  /** Milliseconds; 0 = never reaped. */
  setGraceTime(ms: number): Promise<void>;
  properties(): Promise<Properties>;
  property(name: string): Promise<string>;
  setProperty(name: string, value: string): Promise<void>;
  removeProperty(name: string): Promise<void>;
}

export interface Process {
  readonly id: string;
  /** Resolves with the exit code (128+N when killed by signal N). */
  wait(): Promise<number>;
  setTTY(spec: TTYSpec): Promise<void>;
  signal(signal: Signal): Promise<void>;
}

/** Garden's two signals: terminate (SIGTERM) and kill (SIGKILL). */
export type Signal = 'terminate' | 'kill';
