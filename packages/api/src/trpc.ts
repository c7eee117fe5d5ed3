import { errorSentence } from '@berth/contracts';
import { initTRPC, TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import superjson from 'superjson';
import { ZodError } from 'zod';
import type { ApiContext } from './context.ts';
import { PanelError, type PanelErrorCode } from './errors.ts';

const trpcCodes: Record<PanelErrorCode, TRPC_ERROR_CODE_KEY> = {
  AGENT_UNREACHABLE: 'SERVICE_UNAVAILABLE',
  INVALID_INPUT: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
};

/** What a client gets for any error: a code and a sentence. No stack, no internals. */
function describe(error: TRPCError): { code: PanelErrorCode; message: string } {
  const cause = error.cause;
  if (cause instanceof PanelError) return { code: cause.code, message: cause.message };
  if (cause instanceof ZodError) {
    const issue = cause.issues[0];
    const field = issue?.path.join('.') || 'input';
    return {
      code: 'INVALID_INPUT',
      message: errorSentence('INVALID_INPUT', { field, problem: issue?.message ?? 'invalid' }),
    };
  }
  if (error.code === 'NOT_FOUND')
    return { code: 'NOT_FOUND', message: errorSentence('NOT_FOUND', { what: 'procedure' }) };
  if (error.code === 'BAD_REQUEST' || error.code === 'PARSE_ERROR') {
    return {
      code: 'INVALID_INPUT',
      message: errorSentence('INVALID_INPUT', { field: 'request', problem: error.message }),
    };
  }
  return { code: 'INTERNAL', message: errorSentence('INTERNAL') };
}

const t = initTRPC.context<ApiContext>().create({
  transformer: superjson, // Dates stay Dates on the client
  isDev: false, // never put stacks in responses
  errorFormatter({ shape, error }) {
    const { code, message } = describe(error);
    return {
      ...shape,
      message,
      data: { code: shape.data.code, httpStatus: shape.data.httpStatus, berthCode: code },
    };
  },
});

// Services throw PanelError; this turns it into the matching tRPC error, keeping it as the
// cause for the formatter. Anything else is a bug: logged here, shown as INTERNAL.
const errors = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof PanelError) {
      result.error = new TRPCError({ code: trpcCodes[cause.code], message: cause.message, cause });
    } else if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      console.error(`api ${path}:`, cause ?? result.error);
    }
  }
  return result;
});

export const router = t.router;
export const procedure = t.procedure.use(errors);
export const createCallerFactory = t.createCallerFactory;
