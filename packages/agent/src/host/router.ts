import { HostFacts } from '@berth/contracts';
import { z } from 'zod';
import { procedure, router } from '../trpc.ts';

export const hostRouter = router({
  /** The host as the agent sees it now. */
  facts: procedure.output(HostFacts).query(({ ctx }) => ctx.host.facts()),

  /**
   * The facts now and then every `intervalMs` until the caller goes away (a tRPC subscription
   * over server-sent events; see the client).
   */
  watchFacts: procedure
    .input(
      z
        .object({ intervalMs: z.number().int().min(500).max(60_000).default(2_000) })
        .default({ intervalMs: 2_000 }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      while (!signal?.aborted) {
        yield await ctx.host.facts();
        await sleep(input.intervalMs, signal);
      }
    }),
});

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
