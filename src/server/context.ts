// What every request handler shares.

import type { Backend } from '../api/garden.js';
import type { Attachment } from './attachment.js';
import type { GraceReaper } from './grace.js';
import type { Logger } from './logger.js';
import type { StreamRegistry } from './streams.js';

export interface ServerContext {
  backend: Backend;
  grace: GraceReaper;
  log: Logger;
  streams: StreamRegistry;
  /** Live Run/Attach control connections (aborted on shutdown). */
  attachments: Set<Attachment>;
  /** ms; substituted for a Create without grace time. 0 = never. */
  defaultGraceTime: number;
  maxBodyBytes: number;
  maxHeaderBytes: number;
}
