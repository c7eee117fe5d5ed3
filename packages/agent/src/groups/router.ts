import { Actor, GroupCreate, GroupInfo, Limits, ResourceName } from '@berth/contracts';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import { serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import type { GroupService } from './service.ts';

function svc(ctx: { groups?: GroupService }): GroupService {
  if (!ctx.groups) throw new AgentError('INTERNAL', 'this agent serves no groups');
  return ctx.groups;
}

export const groupRouter = router({
  list: procedure.output(z.array(GroupInfo)).query(({ ctx }) => svc(ctx).list()),
  inspect: procedure
    .input(z.object({ name: ResourceName }).strict())
    .output(GroupInfo)
    .query(({ ctx, input }) => svc(ctx).inspect(input.name)),
  create: procedure
    .input(GroupCreate)
    .output(GroupInfo)
    .mutation(({ ctx, input }) => svc(ctx).create(input.name, input.parent, input.limits, input.actor)),
  update: procedure
    .input(z.object({ name: ResourceName, limits: Limits, actor: Actor }).strict())
    .output(GroupInfo)
    .mutation(({ ctx, input }) => svc(ctx).update(input.name, input.limits, input.actor)),
  delete: procedure
    .input(z.object({ name: ResourceName, actor: Actor }).strict())
    .mutation(({ ctx, input }) => svc(ctx).delete(input.name, input.actor)),
});
