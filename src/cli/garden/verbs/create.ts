// `garden create`: flags to a ContainerSpec; prints the new handle.

import { type BindMount, BindMountMode, BindMountOrigin, type ContainerSpec, type Limits } from '../../../api/types.js';
import { UsageError, parseCount, parseDuration, parseEnv, parseKV, parseSize, parseVerb } from '../args.js';
import type { Verb } from '../verb.js';

export const create: Verb = {
  name: 'create',
  summary: 'create a container and print its handle',
  help: `usage: garden create [flags]

Creates a container and prints its handle.

      --handle HANDLE        the handle (default: the server picks one)
      --rootfs, --image URI  the image: docker:///name#tag, a local image name or a directory
      --env K=V              environment for every process (repeatable)
      --property K=V         a property (repeatable)
      --grace-time DURATION  destroy after this long without a client (30s, 5m, 1h, or ms); 0 = never
      --bind-mount SRC:DST[:ro]
                             mount a host path into the container, read-write unless :ro (repeatable)
      --network NET          the network (a CIDR, or the backend's network name)
      --memory SIZE          memory limit (512M, 1G, ...)
      --cpu WEIGHT           CPU weight (relative shares)
      --pids N               most processes at once
      --disk SIZE            disk limit (bytes written, 10G, ...)
      --privileged           a privileged container (root inside is root outside)`,
  async run(args, ctx) {
    const p = parseVerb('create', this.help, args, {
      handle: { type: 'string' },
      rootfs: { type: 'string' },
      image: { type: 'string' },
      env: { type: 'string', multiple: true },
      property: { type: 'string', multiple: true },
      'grace-time': { type: 'string' },
      'bind-mount': { type: 'string', multiple: true },
      network: { type: 'string' },
      memory: { type: 'string' },
      cpu: { type: 'string' },
      pids: { type: 'string' },
      disk: { type: 'string' },
      privileged: { type: 'boolean' },
    }, [0, 0]);
    if (!p) return 0;
    const v = p.values;
    if (v.rootfs !== undefined && v.image !== undefined && v.rootfs !== v.image) {
      throw new UsageError('create: --rootfs and --image name the same thing; give one');
    }
    const spec: ContainerSpec = {};
    if (v.handle !== undefined) spec.handle = v.handle;
    const image = v.image ?? v.rootfs;
    if (image !== undefined) spec.image = { uri: image };
    spec.env = parseEnv(v.env);
    if (v.property?.length) spec.properties = Object.fromEntries(v.property.map((kv) => parseKV('--property', kv)));
    if (v['grace-time'] !== undefined) spec.graceTime = parseDuration('--grace-time', v['grace-time']);
    if (v['bind-mount']?.length) spec.bindMounts = v['bind-mount'].map(parseBindMount);
    if (v.network !== undefined) spec.network = v.network;
    const limits: Limits = {};
    if (v.memory !== undefined) limits.memory = { limitInBytes: parseSize('--memory', v.memory) };
    if (v.cpu !== undefined) limits.cpu = { weight: parseCount('--cpu', v.cpu) };
    if (v.pids !== undefined) limits.pid = { max: parseCount('--pids', v.pids) };
    if (v.disk !== undefined) limits.disk = { byteHard: parseSize('--disk', v.disk) };
    if (Object.keys(limits).length) spec.limits = limits;
    if (v.privileged) spec.privileged = true;
    const container = await ctx.garden().create(spec);
    process.stdout.write(container.handle + '\n');
    return 0;
  },
};

/** `SRC:DST[:ro|:rw]` — a host path mounted into the container. */
export function parseBindMount(text: string): BindMount {
  const parts = text.split(':');
  let mode = BindMountMode.RW;
  if (parts.length === 3 && (parts[2] === 'ro' || parts[2] === 'rw')) {
    mode = parts.pop() === 'ro' ? BindMountMode.RO : BindMountMode.RW;
  }
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new UsageError(`--bind-mount wants SRC:DST or SRC:DST:ro, got '${text}'`);
  }
  return { srcPath: parts[0], dstPath: parts[1], mode, origin: BindMountOrigin.Host };
}
