import { z } from 'zod';
import { Actor, Limits, ResourceName } from './container.ts';

// Groups: a parent cgroup with its own limits that containers are created in. Nestable one
// level: a team group may hold user groups, which hold containers.

export const GroupCreate = z
  .object({
    name: ResourceName,
    /** The group this one sits in (one level of nesting at most). */
    parent: ResourceName.optional(),
    limits: Limits.default({}),
    actor: Actor,
  })
  .strict();

export const GroupInfo = z.object({
  name: z.string(),
  parent: z.string().nullable(),
  limits: Limits,
  containers: z.array(z.string()),
  children: z.array(z.string()),
  stats: z.object({
    memoryBytes: z.number().optional(),
    cpuUsageNs: z.number().optional(),
    pids: z.number().optional(),
  }),
});
export type GroupInfo = z.infer<typeof GroupInfo>;
