import { exitStatus } from '../runtime/types.ts';
import type { ContainerService } from './service.ts';
import { ID_RANGE } from './spec.ts';

// At start: finish or roll back what a crashed berthd left in the journal, re-adopt the
// containers whose monitors kept them running, record the exits that happened meanwhile
// (and apply restart policies), then autostart in order, with the configured delays.

export async function recover(svc: ContainerService): Promise<{ adopted: string[]; exited: string[] }> {
  const { db, events, runtime } = svc.d;
  // First, as nothing has read a root's lease yet: leases a power loss took, from the records.
  const leases = await svc.d.images.restoreLeases?.(
    await db.container.findMany({ select: { id: true, imageDigest: true, idBase: true } }),
    ID_RANGE,
  );
  if (leases?.restored.length) console.error(`berthd: root leases restored: ${leases.restored.join(', ')}`);
  if (leases?.removed.length)
    console.error(`berthd: roots of no container removed: ${leases.removed.join(', ')}`);
  for (const intent of await db.intent.findMany({ orderBy: { id: 'asc' } })) {
    const row = await db.container.findUnique({ where: { id: intent.containerId } });
    if (intent.op === 'create') {
      await svc.rollbackCreate(intent.containerId);
      await events.append('recovery.rolled-back', {
        subject: row?.name ?? intent.containerId,
        data: { op: 'create', id: intent.containerId },
      });
    } else if (intent.op === 'delete') {
      await svc.finishDelete(intent.containerId);
      await events.append('recovery.finished', {
        subject: row?.name ?? intent.containerId,
        data: { op: 'delete', id: intent.containerId },
      });
      if (row) await events.append('container.deleted', { subject: row.name, data: { id: row.id } });
    }
    await db.intent.delete({ where: { id: intent.id } });
  }

  const adopted: string[] = [];
  const exited: string[] = [];
  if (runtime.unavailableReason()) return { adopted, exited };
  for (const row of await db.container.findMany({ orderBy: { createdAt: 'asc' } })) {
    let rs = runtime.state(row.id);
    if (row.state === 'creating') {
      await svc.rollbackCreate(row.id);
      continue;
    }
    if (row.state === 'deleting') {
      await svc.finishDelete(row.id);
      continue;
    }
    // An instance whose pid was never recorded (berthd killed between the helper's spawn and
    // that record, in a start): nothing can adopt or wait for it; it is killed through its
    // cgroup and removed, and the container counts as exited while the agent was down.
    if (rs?.status === 'creating') {
      await runtime.delete(row.id, true).catch((e: unknown) => {
        console.error(`berthd: removing ${row.name}'s unfinished instance: ${(e as Error).message}`);
      });
      rs = undefined;
    }
    if (rs && (rs.status === 'running' || rs.status === 'paused')) {
      const state = row.state === 'stopping' ? 'running' : rs.status;
      await db.container.update({ where: { id: row.id }, data: { state } });
      svc.watch(row.id);
      adopted.push(row.name);
      await events.append('container.adopted', {
        subject: row.name,
        data: { id: row.id, pid: rs.pid ?? null },
      });
      continue;
    }
    if (row.state === 'running' || row.state === 'paused' || row.state === 'stopping') {
      const exit = rs ? await runtime.wait(row.id).catch(() => undefined) : undefined;
      const updated = await db.container.update({
        where: { id: row.id },
        data: { state: 'stopped', exitCode: exit ? exitStatus(exit) : null, finishedAt: new Date() },
      });
      exited.push(row.name);
      await events.append('container.exited', {
        subject: row.name,
        data: {
          id: row.id,
          exitCode: exit ? exitStatus(exit) : null,
          signal: exit?.signal ?? 0,
          whileAgentDown: true,
        },
      });
      svc.applyRestartPolicy(updated);
    }
  }
  await removeStrayCgroups(svc);
  return { adopted, exited };
}

/**
 * The cgroups a killed berthd had made ahead of time (empty, named like ids, in no record) go,
 * and so does a container's empty <parent>/<id> that is not where the runtime records its
 * instance: a restarted container's first cgroup, whose removal in the background (its next
 * instance is in a fresh slot) the killed berthd left unfinished. The containers' own stay, also
 * a running one's that the DB lost (not ours to judge here); nothing with processes goes.
 */
async function removeStrayCgroups(svc: ContainerService): Promise<void> {
  const { db, runtime } = svc.d;
  if (!runtime.removeStrayCgroups) return;
  try {
    const known = new Set((await db.container.findMany({ select: { id: true } })).map((r) => r.id));
    const groups = await db.containerGroup.findMany({ select: { name: true } });
    const parents = [
      await svc.d.groupPath(undefined),
      ...(await Promise.all(groups.map((g) => svc.d.groupPath(g.name)))),
    ];
    const removed = await runtime.removeStrayCgroups(
      parents,
      (id, path) => known.has(id) && (!runtime.cgroupPath || runtime.cgroupPath(id) === path),
    );
    if (removed.length > 0) console.error(`berthd: unused cgroups removed: ${removed.join(', ')}`);
  } catch (e) {
    console.error(`berthd: removing unused cgroups: ${(e as Error).message}`);
  }
}

/** Starts the autostart containers that are not running, lowest order first, with their delays. */
export async function autostart(svc: ContainerService, signal?: AbortSignal): Promise<string[]> {
  const started: string[] = [];
  if (svc.d.runtime.unavailableReason()) return started;
  const rows = await svc.d.db.container.findMany({
    where: { autostart: true, state: { in: ['created', 'stopped'] }, stoppedByUser: false },
    orderBy: [{ autostartOrder: 'asc' }, { createdAt: 'asc' }],
  });
  for (const row of rows) {
    if (signal?.aborted) break;
    try {
      await svc.start(row.name, 'agent:autostart');
      started.push(row.name);
    } catch (e) {
      console.error(`berthd: autostart of ${row.name} failed: ${(e as Error).message}`);
    }
    const delay = (JSON.parse(row.config) as { autostartDelayMs?: number }).autostartDelayMs ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  }
  return started;
}
