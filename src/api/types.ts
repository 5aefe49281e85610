// Garden's data types in camelCase (protocol §4). 64-bit fields are `U64`:
// a number where it fits, a bigint where it does not (rlimit infinity,
// cgroup v1's "unlimited" memory limit); the wire layer keeps them exact.

export type U64 = number | bigint;

export interface ImageRef {
  uri?: string;
  username?: string;
  password?: string;
}

export enum BindMountMode { RO = 0, RW = 1 }
export enum BindMountOrigin { Host = 0, Container = 1 }

export interface BindMount {
  srcPath?: string;
  dstPath?: string;
  mode?: BindMountMode;
  origin?: BindMountOrigin;
}

export interface BandwidthLimits { rateInBytesPerSecond?: U64; burstRateInBytesPerSecond?: U64 }
export interface CPULimits { weight?: U64; limitInShares?: U64 }
export enum DiskLimitScope { Total = 0, Exclusive = 1 }
export interface DiskLimits {
  inodeSoft?: U64;
  inodeHard?: U64;
  byteSoft?: U64;
  byteHard?: U64;
  scope?: DiskLimitScope;
}
export interface MemoryLimits { limitInBytes?: U64 }
export interface PidLimits { max?: U64 }

export interface Limits {
  bandwidth?: BandwidthLimits;
  cpu?: CPULimits;
  disk?: DiskLimits;
  memory?: MemoryLimits;
  pid?: PidLimits;
}

export enum Protocol { All = 0, TCP = 1, UDP = 2, ICMP = 3, ICMPv6 = 4 }
export interface IPRange { start?: string; end?: string }
export interface PortRange { start?: number; end?: number }
export interface ICMPControl { type: number; code?: number }
export interface NetOutRule {
  protocol?: Protocol;
  networks?: IPRange[];
  ports?: PortRange[];
  icmps?: ICMPControl;
  log?: boolean;
}
export interface NetIn { hostPort: number; containerPort: number }

export interface ContainerSpec {
  handle?: string;
  /** Milliseconds of idleness before the container is destroyed; 0 = never. */
  graceTime?: number;
  /** Deprecated predecessor of image.uri. */
  rootfsPath?: string;
  image?: ImageRef;
  bindMounts?: BindMount[];
  network?: string;
  properties?: Properties;
  env?: string[];
  privileged?: boolean;
  limits?: Limits;
  netOut?: NetOutRule[];
  netIn?: NetIn[];
}

export type Properties = Record<string, string>;

export interface ResourceLimits {
  as?: U64; core?: U64; cpu?: U64; data?: U64; fsize?: U64; locks?: U64;
  memlock?: U64; msgqueue?: U64; nice?: U64; nofile?: U64; nproc?: U64;
  rss?: U64; rtprio?: U64; sigpending?: U64; stack?: U64;
}

export interface WindowSize { columns?: number; rows?: number }
export interface TTYSpec { windowSize?: WindowSize }

export interface ProcessLimits { cpu?: CPULimits; memory?: MemoryLimits }

export interface ProcessSpec {
  id?: string;
  path: string;
  args?: string[];
  env?: string[];
  dir?: string;
  user?: string;
  limits?: ResourceLimits;
  /** Cgroup limits for this process alone (Garden's ProcessSpec.OverrideContainerLimits). */
  overrideContainerLimits?: ProcessLimits;
  tty?: TTYSpec;
  image?: ImageRef;
  bindMounts?: BindMount[];
}

export type ContainerState = 'active' | 'stopped';

export interface PortMapping { hostPort: number; containerPort: number }

export interface ContainerInfo {
  state: ContainerState | '';
  events: string[];
  hostIP: string;
  containerIP: string;
  containerIPv6: string;
  externalIP: string;
  containerPath: string;
  processIDs: string[];
  properties: Properties;
  mappedPorts: PortMapping[];
}

export interface ContainerMemoryStat {
  activeAnon: U64; activeFile: U64; cache: U64; hierarchicalMemoryLimit: U64;
  inactiveAnon: U64; inactiveFile: U64; mappedFile: U64; pgfault: U64;
  pgmajfault: U64; pgpgin: U64; pgpgout: U64; rss: U64;
  totalActiveAnon: U64; totalActiveFile: U64; totalCache: U64;
  totalInactiveAnon: U64; totalInactiveFile: U64; totalMappedFile: U64;
  totalPgfault: U64; totalPgmajfault: U64; totalPgpgin: U64; totalPgpgout: U64;
  totalRss: U64; totalUnevictable: U64; unevictable: U64; swap: U64;
  hierarchicalMemswLimit: U64; totalSwap: U64; totalUsageTowardLimit: U64;
  anon: U64; file: U64; swapcached: U64;
}

export interface ContainerCPUStat { usage: U64; user: U64; system: U64 }
export interface ContainerDiskStat {
  totalBytesUsed: U64; totalInodesUsed: U64; exclusiveBytesUsed: U64; exclusiveInodesUsed: U64;
}
export interface ContainerNetworkStat { rxBytes: U64; txBytes: U64 }
export interface ContainerPidStat { current: U64; max: U64 }

export interface Metrics {
  memoryStat: ContainerMemoryStat;
  cpuStat: ContainerCPUStat;
  diskStat: ContainerDiskStat;
  /** null: not available (distinct from zero). */
  networkStat: ContainerNetworkStat | null;
  pidStat: ContainerPidStat;
  /** Milliseconds since creation. */
  age: number;
  cpuEntitlement: U64;
}

export interface Capacity {
  memoryInBytes: U64;
  diskInBytes: U64;
  schedulableDiskInBytes: U64;
  maxContainers: U64;
}

export interface InfoEntry { info?: ContainerInfo; error?: Error }
export interface MetricsEntry { metrics?: Metrics; error?: Error }
