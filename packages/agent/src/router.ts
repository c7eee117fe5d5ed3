import { hostRouter } from './host/router.ts';
import { imageRouter } from './images/router.ts';
import { router } from './trpc.ts';

/** berthd's API. One sub-router per resource; procedures stay thin and call services. */
export const agentRouter = router({
  host: hostRouter,
  image: imageRouter,
});

export type AgentRouter = typeof agentRouter;
