// init-d's error replies as the Garden errors callers already handle.

import {
  ExecutableNotFoundError, GardenError, ProcessNotFoundError, ServiceUnavailableError,
} from '../api/errors.js';
import type { InitdErrorCode } from './protocol.js';

/** An init-d failure that has no Garden error type of its own. */
export class InitdError extends GardenError {
  constructor(message: string, code: InitdErrorCode | string) {
    super(message, code);
  }
}

export function fromReply(reply: Record<string, unknown>, processId?: string): GardenError {
  const code = String(reply.error ?? 'error');
  const message = String(reply.message ?? code);
  switch (code) {
    case 'not_found': return new ProcessNotFoundError(processId ?? '');
    case 'exec_not_found': return new ExecutableNotFoundError(message);
    default: return new InitdError(message, code);
  }
}

/** The socket is gone: the container stopped, or init-d is not running. */
export function unreachable(socketPath: string, cause: unknown): GardenError {
  const reason = (cause as NodeJS.ErrnoException)?.code ?? String(cause);
  return new ServiceUnavailableError(`init-d at ${socketPath} is unreachable (${reason})`, { cause });
}
