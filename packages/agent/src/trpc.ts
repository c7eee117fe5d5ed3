import { ErrorCode, errorSentence } from '@berth/contracts';
import { initTRPC, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { ZodError } from 'zod';
import type { AgentContext } from './context.ts';

// The one tRPC instance of berthd. Routers per resource build on `router` and `procedure`;
// no state lives here (services come in through the context).

const berthCodeOf: Partial<Record<TRPC_ERROR_CODE_KEY, ErrorCode>> = {
  BAD_REQUEST: 'INVALID_INPUT',
  PARSE_ERROR: 'INVALID_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  PAYLOAD_TOO_LARGE: 'INVALID_INPUT',
};

const t = initTRPC.context<AgentContext>().create({
  // Never a stack trace in a reply, whatever NODE_ENV says: they name berthd's files and
  // frames to any caller (the details of an unexpected failure go to berthd's log).
  isDev: false,
  // Subscriptions (SSE): a ping comment every 15 s keeps an idle stream alive past the
  // client's body timeout; a client that hears nothing for 45 s reconnects (resuming from
  // the last tracked() id).
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 45_000 } },
  // Every error carries a Berth code; input errors name the field in the message.
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? error.cause : undefined;
    const issue = zod?.issues[0];
    const message = issue
      ? errorSentence('INVALID_INPUT', { field: issue.path.join('.') || 'input', problem: issue.message })
      : shape.message;
    return {
      ...shape,
      message,
      data: { ...shape.data, berthCode: berthCodeOf[error.code] ?? ErrorCode.enum.INTERNAL },
    };
  },
});

export const router = t.router;
export const procedure = t.procedure;
