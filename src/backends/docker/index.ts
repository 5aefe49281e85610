export { DockerBackend, type DockerBackendOptions } from './backend.js';
export { DockerContainer, ROOT_IS_HOST_ROOT } from './container.js';
export { DockerProcess } from './process.js';
