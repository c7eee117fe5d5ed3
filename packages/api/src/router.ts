import { z } from 'zod';
import { procedure, router } from './trpc.ts';

// Thin: parse input, call a service, shape nothing. Authorisation lives in the services.

const auth = router({
  login: procedure
    .input(z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) }))
    .mutation(async ({ ctx, input }) => {
      const { token, expiresAt, user } = await ctx.services.auth.login({ ...input, ip: ctx.ip });
      ctx.setSession(token, expiresAt);
      return { user };
    }),
  logout: procedure.mutation(async ({ ctx }) => {
    await ctx.services.auth.logout({ token: ctx.sessionToken, viewer: ctx.viewer, ip: ctx.ip });
    ctx.clearSession();
    return { ok: true as const };
  }),
  me: procedure.query(({ ctx }) => ({ user: ctx.services.auth.requireUser(ctx.viewer) })),
});

const host = router({
  facts: procedure.query(({ ctx }) => ctx.services.host.facts(ctx.viewer)),
});

export const appRouter = router({ auth, host });
export type AppRouter = typeof appRouter;
