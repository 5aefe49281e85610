// A private dockerd for tests that must restart an engine or remap user
// namespaces: its own socket, data and exec roots and bridge, no iptables of
// its own, so nothing else on the machine is touched. Never `--bridge=none`:
// dockerd then deletes the host's docker0 (moby's removeDefaultBridgeInterface).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';

export class PrivateDockerd {
  readonly dir: string;
  readonly socketPath: string;
  readonly docker: Dockerode;
  private readonly bridge: string;
  private proc: ChildProcess | undefined;
  private readonly log: Buffer[] = [];

  /** `prefix` names the dir and bridge (keep it short: containerd's socket lives below the exec root). */
  constructor(prefix: string, subnet: string, private readonly extraArgs: string[] = []) {
    this.dir = mkdtempSync(`/tmp/${prefix}-`);
    chmodSync(this.dir, 0o711);
    this.socketPath = path.join(this.dir, 'd.sock');
    this.docker = new Dockerode({ socketPath: this.socketPath });
    this.bridge = `${prefix}${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', subnet, 'dev', this.bridge]);
    execFileSync('ip', ['link', 'set', this.bridge, 'up']);
  }

  async start(): Promise<void> {
    const proc = spawn('dockerd', [
      ...this.extraArgs, '-H', `unix://${this.socketPath}`, '--data-root', path.join(this.dir, 'data'),
      '--exec-root', path.join(this.dir, 'x'), '--pidfile', path.join(this.dir, 'd.pid'), `--bridge=${this.bridge}`,
      '--iptables=false', '--ip-masq=false', '--shutdown-timeout=2',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => this.log.push(d));
    proc.stderr!.on('data', (d) => this.log.push(d));
    for (let i = 0; ; i++) {
      try {
        await this.docker.ping();
        return;
      } catch (err) {
        if (i > 240 || proc.exitCode !== null) throw new Error(`dockerd did not start: ${Buffer.concat(this.log).toString().slice(-2000)}`, { cause: err });
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the engine, then removes its dir (and whatever it left mounted there) and its bridge. */
  async remove(): Promise<void> {
    await this.stop();
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(this.dir)).reverse();
    for (const m of mounts) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    rmSync(this.dir, { recursive: true, force: true });
    execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' });
  }
}
