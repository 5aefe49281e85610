export { GardenServer, type GardenServerOptions, type ServerAddress } from './server.js';
export { type Logger, createJsonLogger, silentLogger } from './logger.js';
export { debugVars } from './debug.js';
