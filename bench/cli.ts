// CLI rows: `dosh -c H true` end to end (process start to exit) against
// `docker exec H true`, both started from here the same way.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerBackend } from '../src/backends/docker/index.js';
import { packageRoot } from './root.js';
import { interleaved, ms, row, type Row } from './stats.js';

const IMAGE = 'docker:///node-garden/busybox#test';

function timed(file: string, args: string[]): () => Promise<number> {
  return () =>
    new Promise((resolve, reject) => {
      const t = process.hrtime.bigint();
      execFile(file, args, (err) => (err ? reject(err) : resolve(ms(t))));
    });
}

export async function cliRows(only: (name: string) => boolean): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-bench-'));
  const depot = path.join(dir, 'depot');
  const backend = await DockerBackend.open({ depot, defaultRootfs: IMAGE, network: 'none', warn: () => {} });
  const handle = `cli-bench-${process.pid}`;
  const rows: Row[] = [];
  try {
    await backend.create({ handle, image: { uri: IMAGE } });
    const dockerId = await new Promise<string>((resolve, reject) =>
      execFile('docker', ['ps', '-q', '--no-trunc', '--filter', `label=node-garden.handle=${handle}`], (err, out) => (err ? reject(err) : resolve(out.trim()))));
    const dockerExec = timed('docker', ['exec', dockerId, 'true']);
    const native = path.join(packageRoot, 'bin/dosh');
    const dosh = existsSync(native) ? timed(native, ['--depot', depot, '-c', handle, 'true']) : undefined;
    const doshNode = timed(process.execPath, [path.join(packageRoot, 'bin/dosh.js'), '--depot', depot, '-c', handle, 'true']);
    for (let i = 0; i < 3; i++) await dockerExec(), await doshNode(), dosh && (await dosh());
    if (dosh && only('dosh.true')) {
      const [a, b] = await interleaved(40, dosh, dockerExec);
      rows.push(row('dosh.true', 'ms', a, 'docker exec H true (CLI)', b));
    }
    if (only('dosh.true.node')) {
      const [a, b] = await interleaved(20, doshNode, dockerExec);
      rows.push(row('dosh.true.node', 'ms', a, 'docker exec H true (CLI)', b));
    }
  } finally {
    await backend.destroy(handle).catch(() => {});
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
