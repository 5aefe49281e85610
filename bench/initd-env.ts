// A real init-d as PID 1 of a fresh PID namespace on the host's filesystem,
// for the init-d rows.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InitdClient } from '../src/initd/client.js';
import { packageRoot } from './root.js';

export async function startInitd(): Promise<{ client: InitdClient; socketPath: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'initd-bench-'));
  const socketPath = path.join(dir, 'initd.sock');
  const binary = path.join(packageRoot, 'build/Release/init-d');
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', binary, '--socket', socketPath], { stdio: 'ignore' });
  const client = new InitdClient(socketPath);
  for (let i = 0; ; i++) {
    try {
      if (existsSync(socketPath)) {
        await client.ping();
        break;
      }
    } catch (err) {
      if (i > 300) throw err;
    }
    if (child.exitCode !== null) throw new Error('init-d exited at start');
    await sleep(10);
  }
  return {
    client,
    socketPath,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
