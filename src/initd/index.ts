export { InitdClient, type SpawnSpec, type ProcessEntry, type Offsets } from './client.js';
export { InitdProcess } from './process.js';
export { InitdError } from './errors.js';
export { DirectProcess, type OutputSinkAttachment } from './direct.js';
