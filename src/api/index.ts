export * from './errors.js';
export * from './types.js';
export type * from './garden.js';
