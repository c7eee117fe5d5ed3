import { ShellSessionInfo, ShellSessionKill, ShellSessionList } from '@berth/contracts';
import { z } from 'zod';
import type { ContainerService } from '../containers/service.ts';
import type { AgentContext } from '../context.ts';
import { AgentError } from '../errors.ts';
import { serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import type { ShellSessions } from './shells.ts';

// Shell sessions (the terminals themselves travel on the terminal websocket).

function need(ctx: AgentContext): { shells: ShellSessions; containers: ContainerService } {
  if (!ctx.shells || !ctx.containers) throw new AgentError('INTERNAL', 'this agent runs no shell sessions');
  return { shells: ctx.shells, containers: ctx.containers };
}

export const shellRouter = router({
  /** A container's shell sessions, oldest first. */
  list: procedure
    .input(ShellSessionList)
    .output(z.array(ShellSessionInfo))
    .query(({ ctx, input }) => {
      const { shells, containers } = need(ctx);
      return shells.list(containers, input.name);
    }),
  /** Ends a session (its shell's whole session: SIGHUP, then SIGKILL after a grace). */
  kill: procedure.input(ShellSessionKill).mutation(async ({ ctx, input }) => {
    const { shells, containers } = need(ctx);
    await shells.kill(containers, input.name, input.session, input.actor);
    return { session: input.session };
  }),
});
