import { shellRouter } from './attach/router.ts';
import { containerRouter } from './containers/router.ts';
import { eventRouter } from './events/router.ts';
import { groupRouter } from './groups/router.ts';
import { hostRouter } from './host/router.ts';
import { imageRouter } from './images/router.ts';
import { metricsRouter } from './metrics/router.ts';
import { networkRouter } from './networks/router.ts';
import { router } from './trpc.ts';
import { volumeRouter } from './volumes/router.ts';

/** berthd's API. One sub-router per resource; procedures stay thin and call services. */
export const agentRouter = router({
  host: hostRouter,
  image: imageRouter,
  container: containerRouter,
  group: groupRouter,
  volume: volumeRouter,
  network: networkRouter,
  event: eventRouter,
  metrics: metricsRouter,
  shell: shellRouter,
});

export type AgentRouter = typeof agentRouter;
