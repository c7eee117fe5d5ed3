import { z } from 'zod';
import { Actor, Labels, ResourceName } from './container.ts';

// Named volumes: directories under the agent's state dir, kept when a container is deleted
// unless asked.

export const VolumeCreate = z
  .object({ name: ResourceName, labels: Labels.default({}), actor: Actor })
  .strict();

export const VolumeInfo = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  createdAt: z.string(),
  usedBy: z.array(z.string()),
});
export type VolumeInfo = z.infer<typeof VolumeInfo>;
