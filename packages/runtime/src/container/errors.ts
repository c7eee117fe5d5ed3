// Errors the runtime raises: a stable code and a sentence for a person. The OCI CLI prints
// the sentence and exits non-zero, as runc does.

export type RuntimeErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_ID'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_STATE'
  | 'CREATE_FAILED'
  | 'START_FAILED'
  | 'EXEC_FAILED'
  | 'HOOK_FAILED'
  | 'NO_CGROUPS';

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}
