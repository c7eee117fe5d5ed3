// Errors of the networking layer. Each carries a stable code, which maps onto the contracts'
// error codes (what the agent, the CLI and the panel show), and, for bad input, the field at
// fault.
import type { ErrorCode } from '@berth/contracts';

export type NetErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'exhausted'
  | 'port_in_use'
  | 'kernel'
  | 'unavailable';

/** The contracts' code for each: what a person can do about it. */
export const NET_ERROR_CODES = {
  invalid_argument: 'INVALID_INPUT',
  not_found: 'NOT_FOUND',
  already_exists: 'CONFLICT',
  conflict: 'CONFLICT',
  // The subnet is full: free an address or use another network.
  exhausted: 'CONFLICT',
  port_in_use: 'CONFLICT',
  kernel: 'INTERNAL',
  unavailable: 'INTERNAL',
} as const satisfies Record<NetErrorCode, Exclude<ErrorCode, 'AGENT_UNREACHABLE'>>;

export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(
    readonly code: NetErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** The contracts' error code for this error. */
  get errorCode(): (typeof NET_ERROR_CODES)[NetErrorCode] {
    return NET_ERROR_CODES[this.code];
  }
}

export const invalid = (field: string, message: string): NetError =>
  new NetError('invalid_argument', `${field}: ${message}`, field);
