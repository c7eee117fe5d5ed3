import { Actor, ResourceName, VolumeCreate, VolumeInfo } from '@berth/contracts';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import { serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import type { VolumeService } from './service.ts';

function svc(ctx: { volumes?: VolumeService }): VolumeService {
  if (!ctx.volumes) throw new AgentError('INTERNAL', 'this agent serves no volumes');
  return ctx.volumes;
}

export const volumeRouter = router({
  list: procedure.output(z.array(VolumeInfo)).query(({ ctx }) => svc(ctx).list()),
  inspect: procedure
    .input(z.object({ name: ResourceName }).strict())
    .output(VolumeInfo)
    .query(({ ctx, input }) => svc(ctx).inspect(input.name)),
  create: procedure
    .input(VolumeCreate)
    .output(VolumeInfo)
    .mutation(({ ctx, input }) => svc(ctx).create(input.name, input.labels, input.actor)),
  delete: procedure
    .input(z.object({ name: ResourceName, actor: Actor }).strict())
    .mutation(({ ctx, input }) => svc(ctx).delete(input.name, input.actor)),
});
