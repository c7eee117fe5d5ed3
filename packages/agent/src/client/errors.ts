import { errorSentence } from '@berth/contracts';
import { TRPCClientError } from '@trpc/client';
import type { AgentRouter } from '../router.ts';

/** The socket errors that mean nobody (we may talk to) is listening. */
const UNREACHABLE_CODES = new Set([
  'ENOENT', // no socket file: berthd is not running
  'ECONNREFUSED', // a stale socket file: berthd died
  'EACCES', // the caller is not in the socket's group
  'EPERM',
  'ENOTSOCK',
  'ENOTDIR',
  'ECONNRESET', // berthd went away mid-request
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * berthd cannot be reached on its socket. A TRPCClientError (so tRPC hands it through as it
 * is), with the sentence a person reads: "agent unreachable at <socket path>".
 */
export class AgentUnreachableError extends TRPCClientError<AgentRouter> {
  readonly code = 'AGENT_UNREACHABLE' as const;
  readonly socketPath: string;

  constructor(socketPath: string, options?: { cause?: unknown }) {
    super(errorSentence('AGENT_UNREACHABLE', { socketPath }), { cause: toError(options?.cause) });
    // TRPCClientError's constructor pins its own prototype; put ours back for instanceof.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'AgentUnreachableError';
    this.socketPath = socketPath;
  }
}

/** The AgentUnreachableError in `err`'s cause chain (the tRPC client wraps what its transport threw). */
export function findUnreachable(err: unknown): AgentUnreachableError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AgentUnreachableError) return e;
  }
  return undefined;
}

/** Whether `err` (a fetch failure, with the socket error somewhere in its cause chain) means unreachable. */
export function isUnreachableError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && UNREACHABLE_CODES.has(code)) return true;
  }
  return false;
}

function toError(cause: unknown): Error | undefined {
  if (cause === undefined || cause instanceof Error) return cause;
  return new Error(String(cause));
}
