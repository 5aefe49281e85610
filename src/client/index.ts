export { GardenClient } from './client.js';
export { ClientContainer } from './container.js';
export { ClientProcess } from './process.js';
export { type Address, parseAddress } from './connection.js';
