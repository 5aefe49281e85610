// Docker Engine errors as Garden errors: an engine that cannot be reached is
// ServiceUnavailableError (the next call tries again, so it recovers by
// itself); a missing container is ContainerNotFoundError.

import { ContainerNotFoundError, GardenError, ServiceUnavailableError } from '../../api/errors.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES', 'EHOSTUNREACH', 'ENOTCONN']);

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

export function isUnreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code !== undefined && UNREACHABLE.has(code) && statusOf(err) === undefined;
}

export function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; reason?: string; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}

/** Maps an error from dockerode; `handle` turns a 404 into ContainerNotFoundError. */
export function fromEngine(err: unknown, handle?: string): Error {
  if (err instanceof GardenError) return err;
  if (isUnreachable(err)) return new ServiceUnavailableError(`docker engine unreachable: ${(err as Error).message}`, { cause: err });
  if (handle !== undefined && statusOf(err) === 404) return new ContainerNotFoundError(handle);
  const out = new GardenError(`docker: ${engineMessage(err)}`, 'engine_error', { cause: err });
  return out;
}

export async function engine<T>(op: () => Promise<T>, handle?: string): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw fromEngine(err, handle);
  }
}
