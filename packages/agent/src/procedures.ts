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

/**
 * A subscription's stream with its AgentErrors turned into tRPC errors: errors thrown while
 * a generator runs never pass through middleware, and a client takes an unmapped one for an
 * internal error (and retries it).
 */
export async function* mapErrors<T>(gen: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* gen;
  } catch (e) {
    throw toTRPCError(e);
  }
}
