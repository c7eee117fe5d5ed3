import type { ErrorCode } from '@berth/contracts';
import { TRPCError } from '@trpc/server';

// What services throw: a Berth error code and a sentence for a person. Routers turn it into
// a tRPC error (see procedures.ts); services never import @trpc themselves beyond this file.

export class AgentError extends Error {
  constructor(
    readonly code: Exclude<ErrorCode, 'AGENT_UNREACHABLE'>,
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

export const notFound = (what: string) => new AgentError('NOT_FOUND', `${what} not found`);
export const conflict = (reason: string) => new AgentError('CONFLICT', reason);
export const forbidden = (reason: string) => new AgentError('FORBIDDEN', reason);
export const invalid = (field: string, problem: string) =>
  new AgentError('INVALID_INPUT', `invalid ${field}: ${problem}`);

const TRPC_CODE = {
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  FORBIDDEN: 'FORBIDDEN',
  INVALID_INPUT: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
} as const;

export function toTRPCError(err: unknown): unknown {
  if (err instanceof AgentError)
    return new TRPCError({ code: TRPC_CODE[err.code], message: err.message, cause: err });
  return err;
}
