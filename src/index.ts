export * from './api/index.js';
export { GardenServer, type GardenServerOptions } from './server/index.js';
export { GardenClient } from './client/index.js';
export { DockerBackend, type DockerBackendOptions } from './backends/docker/index.js';
