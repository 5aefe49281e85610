// `garden server`: serves a backend over Garden's wire protocol until
// SIGTERM/SIGINT, then closes cleanly, leaving every container and process
// running for the next start to pick up.

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Backend } from '../api/garden.js';
import { GardenServer, createJsonLogger, type GardenServerOptions } from '../server/index.js';
import type { LogLevel } from '../server/logger.js';
import { DEFAULT_DEPOT } from './depot.js';
import { parseDuration } from './units.js';

export const DEFAULT_SOCKET = '/tmp/garden.sock';
export const DEFAULT_ROOTFS = 'docker:///node-garden/busybox#test';

const USAGE = `usage: garden server [options]

Serves a Garden backend over Garden's HTTP wire protocol (JSON logs on stdout).

  --backend docker|runc      backend (default: docker when its engine answers)
  --bind-socket PATH         listen on a unix socket (default ${DEFAULT_SOCKET} unless --bind-port)
  --bind-ip IP               listen on TCP at IP (default 0.0.0.0 with --bind-port)
  --bind-port N              TCP port
  --depot DIR                where container state lives (default ${DEFAULT_DEPOT})
  --default-rootfs URI       rootfs for containers that name none (default ${DEFAULT_ROOTFS})
  --default-grace-time DUR   grace time for containers created without one (e.g. 5m; default 0 = never)
  --docker-host URI          Docker engine (default DOCKER_HOST or unix:///var/run/docker.sock)
  --log-level LEVEL          debug | info | error (default info)
  --debug-bind-ip IP         serve GET /debug/vars here (memstats)
  --debug-bind-port N
  -h, --help                 this help`;

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string' },
      'bind-socket': { type: 'string' },
      'bind-ip': { type: 'string' },
      'bind-port': { type: 'string' },
      depot: { type: 'string' },
      'default-rootfs': { type: 'string' },
      'default-grace-time': { type: 'string' },
      'docker-host': { type: 'string' },
      'log-level': { type: 'string' },
      'debug-bind-ip': { type: 'string' },
      'debug-bind-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'error'].includes(level)) throw new UsageError(`--log-level must be debug, info or error`);
  const log = createJsonLogger(process.stdout, level, { name: 'garden' });
  const port = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number, got '${v}'`);
    return n;
  };
  const bindPort = port('--bind-port', values['bind-port']);
  const debugPort = port('--debug-bind-port', values['debug-bind-port']);
  const graceTime = values['default-grace-time'] ? parseDuration(values['default-grace-time']) : 0;
  const depot = values.depot ?? DEFAULT_DEPOT;
  const dockerHost = values['docker-host'] ?? process.env.DOCKER_HOST;

  const backend = await openBackend(values.backend, {
    depot,
    defaultRootfs: values['default-rootfs'] ?? DEFAULT_ROOTFS,
    dockerHost,
    warn: (message) => log.info({ warning: message }, 'backend-warning'),
  });

  const options: GardenServerOptions = {
    defaultGraceTime: graceTime,
    logger: log,
    ...(bindPort !== undefined
      ? { bindIp: values['bind-ip'] ?? '0.0.0.0', bindPort }
      : { bindSocket: values['bind-socket'] ?? DEFAULT_SOCKET }),
    ...(debugPort !== undefined ? { debugBindIp: values['debug-bind-ip'] ?? '127.0.0.1', debugBindPort: debugPort } : {}),
  };
  const server = new GardenServer(backend, options);
  await server.listen();
  log.info({ address: server.address(), backend: backend.constructor.name, depot }, 'garden-server-started');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'garden-server-stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  await backend.close(); // containers and processes keep running
  log.info({}, 'garden-server-stopped');
  return 0;
}

export class UsageError extends Error {}

interface BackendChoice {
  depot: string;
  defaultRootfs: string;
  dockerHost?: string;
  warn: (message: string) => void;
}

async function openBackend(name: string | undefined, opts: BackendChoice): Promise<Backend> {
  const choice = name ?? (await dockerAnswers(opts.dockerHost) ? 'docker' : 'runc');
  if (choice === 'docker') {
    const { DockerBackend } = await import('../backends/docker/index.js');
    return DockerBackend.open({
      depot: opts.depot,
      defaultRootfs: opts.defaultRootfs,
      docker: dockerOptions(opts.dockerHost),
      reap: false, // the server's own reaper follows the protocol's grace-time rules
      warn: opts.warn,
    });
  }
  if (choice === 'runc') throw new UsageError('the runc backend is not part of this build yet; start dockerd or pass --backend docker');
  throw new UsageError(`unknown backend '${choice}' (docker or runc)`);
}

function dockerOptions(host: string | undefined): { socketPath: string } | { host: string; port: number } | undefined {
  if (!host) return undefined;
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375) };
}

async function dockerAnswers(host: string | undefined): Promise<boolean> {
  if (!host) return existsSync('/var/run/docker.sock');
  return true;
}
