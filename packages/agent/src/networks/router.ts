import { NetworkCreate, NetworkInfo, NetworkName, NetworkRemove } from '@berth/contracts';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import { serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import type { NetworkService } from './service.ts';

// The network API. Thin: validate (zod, strict), then call the service.

function svc(ctx: { networks?: NetworkService }): NetworkService {
  if (!ctx.networks) throw new AgentError('INTERNAL', 'this agent serves no networks');
  return ctx.networks;
}

export const networkRouter = router({
  list: procedure.output(z.array(NetworkInfo)).query(({ ctx }) => svc(ctx).list()),
  inspect: procedure
    .input(z.object({ name: NetworkName }).strict())
    .output(NetworkInfo)
    .query(({ ctx, input }) => svc(ctx).inspect(input.name)),
  create: procedure
    .input(NetworkCreate)
    .output(NetworkInfo)
    .mutation(({ ctx, input }) => {
      const { actor, ...spec } = input;
      return svc(ctx).create(spec, actor);
    }),
  remove: procedure
    .input(NetworkRemove)
    .output(z.object({ detached: z.array(z.string()) }))
    .mutation(({ ctx, input }) => svc(ctx).remove(input.name, input.force, input.actor)),
});
