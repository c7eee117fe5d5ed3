// Errors of the networking layer. Each carries a stable code (for the agent to map onto the
// contracts' error codes) and, for bad input, the field at fault.

export type NetErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'exhausted'
  | 'port_in_use'
  | 'kernel'
  | 'unavailable';

export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(
    readonly code: NetErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const invalid = (field: string, message: string): NetError =>
  new NetError('invalid_argument', `${field}: ${message}`, field);
