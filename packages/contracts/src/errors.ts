import { z } from 'zod';

// Every error Berth shows a person carries one of these codes and a sentence in plain words.
// Add codes; never rename or remove one (the panel, the CLI and scripts match on them).

export const ErrorCode = z.enum([
  /** berthd's socket is missing, refuses connections, or the caller may not open it. */
  'AGENT_UNREACHABLE',
  /** A request field failed validation; nothing was changed. */
  'INVALID_INPUT',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  /** The request conflicts with the current state (exists already, wrong state for the verb). */
  'CONFLICT',
  /** Too many attempts (e.g. failed sign-ins); try again after the wait the message names. */
  'RATE_LIMITED',
  /** A bug or an unexpected failure; the details are in the agent's or panel's log. */
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

const sentences = {
  AGENT_UNREACHABLE: (p: { socketPath: string }) => `agent unreachable at ${p.socketPath}`,
  INVALID_INPUT: (p: { field: string; problem: string }) => `invalid ${p.field}: ${p.problem}`,
  NOT_FOUND: (p: { what: string }) => `${p.what} not found`,
  UNAUTHENTICATED: () => 'sign in first',
  FORBIDDEN: (p: { action: string }) => `you are not allowed to ${p.action}`,
  CONFLICT: (p: { reason: string }) => p.reason,
  RATE_LIMITED: (p: { what: string; retryAfterSeconds: number }) =>
    `too many ${p.what}; try again in ${Math.max(1, Math.ceil(p.retryAfterSeconds / 60))} minute${p.retryAfterSeconds > 60 ? 's' : ''}`,
  INTERNAL: () => 'internal error; the details are in the log',
} satisfies Record<ErrorCode, (params: never) => string>;

export type ErrorParams<C extends ErrorCode> = Parameters<(typeof sentences)[C]>[0];

/** The sentence a person reads for `code`, e.g. `errorSentence('AGENT_UNREACHABLE', { socketPath })`. */
export function errorSentence<C extends ErrorCode>(
  code: C,
  ...params: ErrorParams<C> extends undefined ? [] : [ErrorParams<C>]
): string {
  const sentence = sentences[code] as (p: unknown) => string;
  return sentence(params[0]);
}

/**
 * The HTTP status each code travels with where Berth answers plain HTTP beside tRPC (berthd's
 * image archives, the panel's JSON routes). An unreachable agent is a gateway's failed upstream.
 */
export const httpStatus = {
  AGENT_UNREACHABLE: 502,
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  INTERNAL: 500,
} as const satisfies Record<ErrorCode, number>;

/** How an error travels in a response body (tRPC error `data`, the panel's JSON errors). */
export const ErrorBody = z.object({ code: ErrorCode, message: z.string() });
export type ErrorBody = z.infer<typeof ErrorBody>;
