import { hostRouter } from './host/router.ts';
import { router } from './trpc.ts';

/** berthd's API. One sub-router per resource; procedures stay thin and call services. */
export const agentRouter = router({
  host: hostRouter,
});

export type AgentRouter = typeof agentRouter;
