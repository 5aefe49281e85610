// Typed errors every backend, the server and the client share.
// `type` is the Garden wire name (§2 of the protocol); the server maps it to
// the error JSON and the client rebuilds the same class from it.

export type GardenErrorType =
  | 'ContainerNotFoundError'
  | 'ProcessNotFoundError'
  | 'ExecutableNotFoundError'
  | 'ServiceUnavailableError'
  | 'UnrecoverableError'
  | '';

export class GardenError extends Error {
  /** Wire type; '' for a generic error. */
  readonly type: GardenErrorType = '';
  /** Short machine-readable reason for generic errors (e.g. 'invalid_spec'). */
  code: string;
  constructor(message: string, code = 'error', options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ContainerNotFoundError extends GardenError {
  override readonly type = 'ContainerNotFoundError' as const;
  constructor(readonly handle: string) {
    super(`unknown handle: ${handle}`, 'container_not_found');
  }
}

export class ProcessNotFoundError extends GardenError {
  override readonly type = 'ProcessNotFoundError' as const;
  constructor(readonly processId: string) {
    super(`unknown process: ${processId}`, 'process_not_found');
  }
}

export class ExecutableNotFoundError extends GardenError {
  override readonly type = 'ExecutableNotFoundError' as const;
  constructor(message: string) {
    super(message, 'executable_not_found');
  }
}

export class ServiceUnavailableError extends GardenError {
  override readonly type = 'ServiceUnavailableError' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'service_unavailable', options);
  }
}

export class UnrecoverableError extends GardenError {
  override readonly type = 'UnrecoverableError' as const;
  constructor(message: string) {
    super(message, 'unrecoverable');
  }
}

/** A spec or request that cannot be honoured as given (generic on the wire). */
export class InvalidSpecError extends GardenError {
  constructor(message: string) {
    super(message, 'invalid_spec');
  }
}

/** A handle or process id that is already in use (generic on the wire). */
export class AlreadyExistsError extends GardenError {
  constructor(message: string) {
    super(message, 'already_exists');
  }
}
