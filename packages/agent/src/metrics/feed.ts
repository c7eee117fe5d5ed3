import { ContainerRecords } from '../containers/records.ts';
import type { AgentDb } from '../db/index.ts';
import type { EventLog } from '../events/log.ts';
import type { MetricsTargets } from './sampler.ts';

// Keeps the metrics targets in step with the container service: running (and paused)
// containers are sampled through their cgroups, groups through their parent cgroups. Driven
// by the event log (the container service's own record of what changed), so the services
// need not know about metrics.

export interface MetricsFeedDeps {
  db: AgentDb;
  events: EventLog;
  targets: MetricsTargets;
  /** A group's cgroup path (throws when the group does not exist). */
  groupPath: (name: string) => Promise<string>;
  /**
   * Where the runtime put a container (its cgroup may come from a pool, not be the spec's
   * cgroupsPath). Without it, the spec's cgroupsPath.
   */
  cgroupPathOf?: (id: string) => string | undefined;
  /** The host end of a container's veth pair, while it is on a bridge network. */
  netDevice?: (containerId: string) => string | undefined;
  signal: AbortSignal;
}

const SAMPLED_STATES = new Set(['running', 'paused']);

export async function feedMetrics(d: MetricsFeedDeps): Promise<void> {
  // What a container event needs, by the statements the container service reads its records
  // with (ContainerRecords, prepared once): this runs for every container event, while the
  // service is busy with the same container (Prisma cost 0.6 ms per lookup here, 0.03 ms prepared).
  const records = new ContainerRecords(d.db);
  const syncContainer = async (where: { id: string } | { name: string }) => {
    const row = await ('id' in where ? records.byId(where.id) : records.byName(where.name));
    if (!row) {
      if ('id' in where) d.targets.unregister(where.id);
      return;
    }
    // The spec (the bulk of a container's data) only when the runtime cannot say where the
    // cgroup is: this runs for every container event.
    const cgroupPath = d.cgroupPathOf
      ? d.cgroupPathOf(row.id)
      : cgroupPathOf((await d.db.containerSpec.findUnique({ where: { containerId: row.id } }))?.spec ?? '{}');
    const netDevice = d.netDevice?.(row.id);
    if (SAMPLED_STATES.has(row.state) && cgroupPath)
      d.targets.register({
        id: row.id,
        name: row.name,
        cgroupPath,
        ...(row.groupName ? { group: row.groupName } : {}),
        ...(netDevice ? { netDevice } : {}),
      });
    else d.targets.unregister(row.id);
  };
  const syncGroup = async (name: string) => {
    try {
      d.targets.register({ id: `group:${name}`, name, cgroupPath: await d.groupPath(name) });
    } catch {
      d.targets.unregister(`group:${name}`);
    }
  };

  for (const g of await d.db.containerGroup.findMany({ select: { name: true } })) await syncGroup(g.name);
  for (const c of await d.db.container.findMany({ select: { id: true } })) await syncContainer({ id: c.id });
  for await (const e of d.events.watch({ signal: d.signal })) {
    try {
      if (e.kind.startsWith('group.') && e.subject) await syncGroup(e.subject);
      else if (e.kind.startsWith('container.')) {
        const id = typeof e.data.id === 'string' ? e.data.id : undefined;
        if (id) await syncContainer({ id });
        else if (e.subject) await syncContainer({ name: e.subject });
      }
    } catch (err) {
      console.error(`berthd: metrics targets: ${(err as Error).message}`);
    }
  }
}

function cgroupPathOf(spec: string): string | undefined {
  try {
    const path = (JSON.parse(spec) as { linux?: { cgroupsPath?: unknown } }).linux?.cgroupsPath;
    return typeof path === 'string' && path.startsWith('/') ? path : undefined;
  } catch {
    return undefined;
  }
}
