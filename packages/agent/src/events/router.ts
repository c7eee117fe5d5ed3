import { AgentEventInfo, EventsWatch } from '@berth/contracts';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import { mapErrors, serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import type { EventLog } from './log.ts';

function log(ctx: { events?: EventLog }): EventLog {
  if (!ctx.events) throw new AgentError('INTERNAL', 'this agent keeps no event log');
  return ctx.events;
}

export const eventRouter = router({
  /** Kept events after a cursor (oldest first). */
  list: procedure
    .input(
      z
        .object({
          after: z.number().int().min(0).optional(),
          subject: z.string().max(200).optional(),
          limit: z.number().int().min(1).max(10_000).default(1000),
        })
        .strict()
        .default({ limit: 1000 }),
    )
    .output(z.array(AgentEventInfo))
    .query(({ ctx, input }) => log(ctx).list(input)),
  /**
   * Events as they happen. Each carries its id as the tracked() id: a client that reconnects
   * sends the last id it saw (lastEventId) and resumes after it, without loss.
   */
  watch: procedure.input(EventsWatch.default({})).subscription(async function* ({ ctx, input, signal }) {
    const after = input.lastEventId ? Number(input.lastEventId) : input.after;
    for await (const e of mapErrors(
      log(ctx).watch({
        ...(after !== undefined && Number.isFinite(after) ? { after } : {}),
        ...(input.subject !== undefined ? { subject: input.subject } : {}),
        ...(signal ? { signal } : {}),
      }),
    ))
      yield tracked(String(e.id), e);
  }),
});
