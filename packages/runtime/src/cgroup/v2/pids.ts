// v2 pids: the files (pids.max, pids.current) are the same as v1's, so is the controller.
export { pidsController as v2Pids } from '../v1/pids.ts';
