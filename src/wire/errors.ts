// Error JSON (protocol §2) <-> the typed errors of src/api.

import {
  ContainerNotFoundError, ExecutableNotFoundError, GardenError, ProcessNotFoundError,
  ServiceUnavailableError, UnrecoverableError,
} from '../api/errors.js';
import { ErrorBody } from './codec.js';
import { type JsonValue } from './json.js';
import { decode, encode } from './schema.js';

export interface ErrorBodyT {
  type: string;
  message: string;
  handle: string;
  processId: string;
  binary: string;
}

export function errorBody(err: unknown): ErrorBodyT {
  const message = err instanceof Error ? err.message : String(err);
  const body: ErrorBodyT = { type: '', message, handle: '', processId: '', binary: '' };
  if (err instanceof ContainerNotFoundError) {
    body.type = err.type;
    body.handle = err.handle;
  } else if (err instanceof ProcessNotFoundError) {
    body.type = err.type;
    body.processId = err.processId;
  } else if (err instanceof GardenError) {
    body.type = err.type;
  }
  return body;
}

/** The error document (with newline) for any thrown value. */
export function encodeError(err: unknown): string {
  return encode(ErrorBody, errorBody(err));
}

/** 404 for the two not-found types, else 500 (§2.2). */
export function errorStatus(err: unknown): number {
  return err instanceof ContainerNotFoundError || err instanceof ProcessNotFoundError ? 404 : 500;
}

/** Rebuilds the typed error the way the Go client does: from `Type` alone. */
export function errorFromBody(body: ErrorBodyT): GardenError {
  switch (body.type) {
    case 'ContainerNotFoundError': return new ContainerNotFoundError(body.handle);
    case 'ProcessNotFoundError': return new ProcessNotFoundError(body.processId);
    case 'ExecutableNotFoundError': return new ExecutableNotFoundError(body.message);
    case 'ServiceUnavailableError': return new ServiceUnavailableError(body.message);
    case 'UnrecoverableError': return new UnrecoverableError(body.message);
    default: return new GardenError(body.message);
  }
}

export function decodeError(v: JsonValue): GardenError {
  return errorFromBody(decode<ErrorBodyT>(ErrorBody, v));
}
