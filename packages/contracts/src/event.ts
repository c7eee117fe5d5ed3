import { z } from 'zod';

// The agent's event log: what happened on the host, in order, each with a cursor (its id) so
// that a client which reconnects resumes where it stopped.

export const EventKind = z.enum([
  'agent.started',
  'agent.stopped',
  'container.created',
  'container.started',
  'container.stopped',
  'container.exited',
  'container.oom-killed',
  'container.restarted',
  'container.killed',
  'container.frozen',
  'container.unfrozen',
  'container.deleted',
  'container.renamed',
  'container.limits-updated',
  'container.adopted',
  'container.snapshot-created',
  'container.snapshot-restored',
  'container.snapshot-deleted',
  'container.cloned',
  'container.exec',
  'container.file-pushed',
  'container.shell-opened',
  'container.shell-closed',
  'container.shell-attached',
  'container.shell-detached',
  'container.console-attached',
  'image.pulled',
  'image.imported',
  'image.built',
  'image.removed',
  'group.created',
  'group.updated',
  'group.deleted',
  'volume.created',
  'volume.deleted',
  'network.created',
  'network.removed',
  'recovery.rolled-back',
  'recovery.finished',
]);
export type EventKind = z.infer<typeof EventKind>;

export const AgentEventInfo = z.object({
  /** The cursor: strictly increasing. */
  id: z.number().int(),
  at: z.string(),
  kind: z.string(),
  actor: z.string().nullable(),
  /** The container, group or volume it is about. */
  subject: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type AgentEventInfo = z.infer<typeof AgentEventInfo>;

export const EventsWatch = z
  .object({
    /** Resume after this event id (a previous event's id); absent: only new events. */
    after: z.number().int().min(0).optional(),
    /** Only events about this subject. */
    subject: z.string().max(200).optional(),
    /** Set by tRPC's subscription link when it reconnects: the last tracked id it saw. */
    lastEventId: z.string().max(32).nullish(),
  })
  .strict();
