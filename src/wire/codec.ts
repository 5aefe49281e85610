// Garden's wire types (protocol §4), field by field, in Go's order.

import { type Kind, type Schema, field as f, struct } from './schema.js';

const st = (schema: Schema): Kind => ({ struct: schema });
const list = (k: Kind): Kind => ({ list: k });
const strList: Kind = { list: 'string' };
const strMap: Kind = { map: 'string' };

export const ImageRef = struct('ImageRef', [
  f('uri', 'uri', 'string'),
  f('username', 'username', 'string'),
  f('password', 'password', 'string'),
]);

export const BindMount = struct('BindMount', [
  f('src_path', 'srcPath', 'string'),
  f('dst_path', 'dstPath', 'string'),
  f('mode', 'mode', 'u8'),
  f('origin', 'origin', 'u8'),
]);

export const BandwidthLimits = struct('BandwidthLimits', [
  f('rate', 'rateInBytesPerSecond', 'u64'),
  f('burst', 'burstRateInBytesPerSecond', 'u64'),
]);
export const CPULimits = struct('CPULimits', [
  f('weight', 'weight', 'u64'),
  f('limit_in_shares', 'limitInShares', 'u64'),
]);
export const DiskLimits = struct('DiskLimits', [
  f('inode_soft', 'inodeSoft', 'u64'),
  f('inode_hard', 'inodeHard', 'u64'),
  f('byte_soft', 'byteSoft', 'u64'),
  f('byte_hard', 'byteHard', 'u64'),
  f('scope', 'scope', 'u8'),
]);
export const MemoryLimits = struct('MemoryLimits', [f('limit_in_bytes', 'limitInBytes', 'u64')]);
export const PidLimits = struct('PidLimits', [f('max', 'max', 'u64')]);

export const Limits = struct('Limits', [
  f('bandwidth_limits', 'bandwidth', st(BandwidthLimits), 'a'),
  f('cpu_limits', 'cpu', st(CPULimits), 'a'),
  f('disk_limits', 'disk', st(DiskLimits), 'a'),
  f('memory_limits', 'memory', st(MemoryLimits), 'a'),
  f('pid_limits', 'pid', st(PidLimits), 'a'),
]);

export const IPRange = struct('IPRange', [f('start', 'start', 'string'), f('end', 'end', 'string')]);
export const PortRange = struct('PortRange', [f('start', 'start', 'u16'), f('end', 'end', 'u16')]);
export const ICMPControl = struct('ICMPControl', [
  f('type', 'type', 'u8', 'o', true),
  f('code', 'code', 'u8', 'p'),
]);
export const NetOutRule = struct('NetOutRule', [
  f('protocol', 'protocol', 'u8'),
  f('networks', 'networks', list(st(IPRange))),
  f('ports', 'ports', list(st(PortRange))),
  f('icmps', 'icmps', st(ICMPControl), 'p'),
  f('log', 'log', 'bool'),
]);
export const NetIn = struct('NetIn', [
  f('host_port', 'hostPort', 'u32', 'a', true),
  f('container_port', 'containerPort', 'u32', 'a', true),
]);

export const ContainerSpec = struct('ContainerSpec', [
  f('handle', 'handle', 'string'),
  f('grace_time', 'graceTime', 'duration'),
  f('rootfs', 'rootfsPath', 'string'),
  f('image', 'image', st(ImageRef), 'a'),
  f('bind_mounts', 'bindMounts', list(st(BindMount))),
  f('network', 'network', 'string'),
  f('properties', 'properties', strMap),
  f('env', 'env', strList),
  f('privileged', 'privileged', 'bool'),
  f('limits', 'limits', st(Limits), 'a'),
  f('netout_rules', 'netOut', list(st(NetOutRule))),
  f('netin', 'netIn', list(st(NetIn))),
]);

const RLIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'sigpending', 'stack'];
export const ResourceLimits = struct('ResourceLimits', RLIMITS.map((k) => f(k, k, 'u64', 'p')));

export const ProcessLimits = struct('ProcessLimits', [
  f('cpu_limits', 'cpu', st(CPULimits), 'a'),
  f('memory_limits', 'memory', st(MemoryLimits), 'a'),
]);
// Signed on input: old clients may send any int; the server clamps (§9).
export const WindowSize = struct('WindowSize', [f('columns', 'columns', 'int'), f('rows', 'rows', 'int')]);
export const TTYSpec = struct('TTYSpec', [f('window_size', 'windowSize', st(WindowSize), 'p')]);

export const ProcessSpec = struct('ProcessSpec', [
  f('id', 'id', 'string'),
  f('path', 'path', 'string', 'o', true),
  f('args', 'args', strList),
  f('env', 'env', strList),
  f('dir', 'dir', 'string'),
  f('user', 'user', 'string'),
  f('rlimits', 'limits', st(ResourceLimits), 'a'),
  f('limits', 'overrideContainerLimits', st(ProcessLimits), 'p'),
  f('tty', 'tty', st(TTYSpec), 'p'),
  f('image', 'image', st(ImageRef), 'a'),
  f('bind_mounts', 'bindMounts', list(st(BindMount))),
]);

export const PortMapping = struct('PortMapping', [
  f('HostPort', 'hostPort', 'u32', 'a', true),
  f('ContainerPort', 'containerPort', 'u32', 'a', true),
]);

export const ContainerInfo = struct('ContainerInfo', [
  f('State', 'state', 'string', 'a', true),
  f('Events', 'events', strList, 'a', true),
  f('HostIP', 'hostIP', 'string', 'a', true),
  f('ContainerIP', 'containerIP', 'string', 'a', true),
  f('ContainerIPv6', 'containerIPv6', 'string', 'a', true),
  f('ExternalIP', 'externalIP', 'string', 'a', true),
  f('ContainerPath', 'containerPath', 'string', 'a', true),
  f('ProcessIDs', 'processIDs', strList, 'a', true),
  f('Properties', 'properties', strMap, 'a', true),
  f('MappedPorts', 'mappedPorts', list(st(PortMapping)), 'a', true),
]);

const MEMORY_KEYS: [string, string][] = [
  ['active_anon', 'activeAnon'], ['active_file', 'activeFile'], ['cache', 'cache'],
  ['hierarchical_memory_limit', 'hierarchicalMemoryLimit'], ['inactive_anon', 'inactiveAnon'],
  ['inactive_file', 'inactiveFile'], ['mapped_file', 'mappedFile'], ['pgfault', 'pgfault'],
  ['pgmajfault', 'pgmajfault'], ['pgpgin', 'pgpgin'], ['pgpgout', 'pgpgout'], ['rss', 'rss'],
  ['total_active_anon', 'totalActiveAnon'], ['total_active_file', 'totalActiveFile'],
  ['total_cache', 'totalCache'], ['total_inactive_anon', 'totalInactiveAnon'],
  ['total_inactive_file', 'totalInactiveFile'], ['total_mapped_file', 'totalMappedFile'],
  ['total_pgfault', 'totalPgfault'], ['total_pgmajfault', 'totalPgmajfault'],
  ['total_pgpgin', 'totalPgpgin'], ['total_pgpgout', 'totalPgpgout'], ['total_rss', 'totalRss'],
  ['total_unevictable', 'totalUnevictable'], ['unevictable', 'unevictable'], ['swap', 'swap'],
  ['hierarchical_memsw_limit', 'hierarchicalMemswLimit'], ['total_swap', 'totalSwap'],
  ['TotalUsageTowardLimit', 'totalUsageTowardLimit'], ['anon', 'anon'], ['file', 'file'],
  ['swapcached', 'swapcached'],
];
export const ContainerMemoryStat = struct('ContainerMemoryStat', MEMORY_KEYS.map(([w, t]) => f(w, t, 'u64', 'a', true)));
export const ContainerCPUStat = struct('ContainerCPUStat', [
  f('Usage', 'usage', 'u64', 'a', true), f('User', 'user', 'u64', 'a', true), f('System', 'system', 'u64', 'a', true),
]);
export const ContainerDiskStat = struct('ContainerDiskStat', [
  f('TotalBytesUsed', 'totalBytesUsed', 'u64', 'a', true),
  f('TotalInodesUsed', 'totalInodesUsed', 'u64', 'a', true),
  f('ExclusiveBytesUsed', 'exclusiveBytesUsed', 'u64', 'a', true),
  f('ExclusiveInodesUsed', 'exclusiveInodesUsed', 'u64', 'a', true),
]);
export const ContainerNetworkStat = struct('ContainerNetworkStat', [
  f('RxBytes', 'rxBytes', 'u64', 'a', true), f('TxBytes', 'txBytes', 'u64', 'a', true),
]);
export const ContainerPidStat = struct('ContainerPidStat', [
  f('Current', 'current', 'u64', 'a', true), f('Max', 'max', 'u64', 'a', true),
]);
export const Metrics = struct('Metrics', [
  f('MemoryStat', 'memoryStat', st(ContainerMemoryStat), 'a', true),
  f('CPUStat', 'cpuStat', st(ContainerCPUStat), 'a', true),
  f('DiskStat', 'diskStat', st(ContainerDiskStat), 'a', true),
  f('NetworkStat', 'networkStat', st(ContainerNetworkStat), 'n', true),
  f('PidStat', 'pidStat', st(ContainerPidStat), 'a', true),
  f('Age', 'age', 'duration', 'a', true),
  f('CPUEntitlement', 'cpuEntitlement', 'u64', 'a', true),
]);

export const Capacity = struct('Capacity', [
  f('memory_in_bytes', 'memoryInBytes', 'u64', 'o', true),
  f('disk_in_bytes', 'diskInBytes', 'u64', 'o', true),
  f('schedulable_disk_in_bytes', 'schedulableDiskInBytes', 'u64', 'o', true),
  f('max_containers', 'maxContainers', 'u64', 'o', true),
]);

// Small request/response shapes (§4.7).
export const CreateResponse = struct('CreateResponse', [f('Handle', 'handle', 'string', 'a', true)]);
export const ListResponse = struct('ListResponse', [f('Handles', 'handles', strList, 'a', true)]);
export const StopRequest = struct('StopRequest', [f('kill', 'kill', 'bool', 'a', true)]);
export const NetInRequest = struct('NetInRequest', [
  f('handle', 'handle', 'string'),
  f('host_port', 'hostPort', 'u32', 'o', true),
  f('container_port', 'containerPort', 'u32', 'o', true),
]);
export const NetInResponse = struct('NetInResponse', [
  f('host_port', 'hostPort', 'u32', 'o', true),
  f('container_port', 'containerPort', 'u32', 'o', true),
]);
export const PropertyValue = struct('PropertyValue', [f('value', 'value', 'string', 'a', true)]);
export const Empty = struct('Empty', []);

// Error JSON (§2.1): all five keys, always.
export const ErrorBody = struct('Error', [
  f('Type', 'type', 'string', 'a', true),
  f('Message', 'message', 'string', 'a', true),
  f('Handle', 'handle', 'string', 'a', true),
  f('ProcessID', 'processId', 'string', 'a', true),
  f('Binary', 'binary', 'string', 'a', true),
]);

// Control payloads on Run/Attach connections (§4.8).
export const ProcessPayload = struct('ProcessPayload', [
  f('process_id', 'processId', 'string'),
  f('stream_id', 'streamId', 'string'),
  f('source', 'source', 'int', 'p'),
  f('data', 'data', 'string', 'p'),
  f('exit_status', 'exitStatus', 'int', 'p'),
  f('error', 'error', 'string', 'p'),
  f('tty', 'tty', st(TTYSpec), 'p'),
  f('signal', 'signal', 'int', 'p'),
]);

export interface ProcessPayloadT {
  processId?: string;
  streamId?: string;
  source?: number;
  data?: string;
  exitStatus?: number;
  error?: string;
  tty?: { windowSize?: { columns?: number; rows?: number } };
  signal?: number;
}
