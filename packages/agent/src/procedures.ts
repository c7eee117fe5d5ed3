import { toTRPCError } from './errors.ts';
import { procedure } from './trpc.ts';

/** A procedure whose AgentErrors reach the caller as their Berth code and sentence. */
export const serviceProcedure = procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTRPCError(result.error.cause ?? result.error);
    if (mapped !== result.error.cause) throw mapped;
  }
  return result;
});
