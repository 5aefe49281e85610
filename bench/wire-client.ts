// One wire.stdout sample as a Garden client would take it: in its own process
// (no backend in its heap), over TCP loopback. Prints the GiB/s.
//   node dist/bench/wire-client.js ADDRESS HANDLE BYTES

import { Writable } from 'node:stream';
import { GardenClient } from '../src/client/index.js';
import { gibps } from './stats.js';

const [address, handle, bytes] = process.argv.slice(2);
const total = Number(bytes);
const c = await new GardenClient(address).lookup(handle);
let n = 0;
const sink = new Writable({ write(chunk: Buffer, _e, cb) { n += chunk.length; cb(); } });
const t = process.hrtime.bigint();
const p = await c.run({ path: 'dd', args: ['if=/dev/zero', 'bs=1M', `count=${total >> 20}`] }, { stdout: sink });
await p.wait();
const v = gibps(n, t);
if (n !== total) throw new Error(`short read ${n}`);
console.log(JSON.stringify({ gibps: v }));
