import type { AgentPolicy, GroupInfo, Limits } from '@berth/contracts';
import { checkLimits, closest } from '../containers/service.ts';
import { limitsToResources } from '../containers/spec.ts';
import type { AgentDb } from '../db/index.ts';
import { conflict, invalid, notFound } from '../errors.ts';
import type { EventLog } from '../events/log.ts';
import type { ContainerRuntime } from '../runtime/types.ts';

// Groups: parent cgroups with shared limits (<cgroupParent>/g.<name>, nested one level:
// <cgroupParent>/g.<team>/g.<user>). The kernel enforces the ceiling on actual use, and
// aggregates the members' usage in the group's own counters.

export class GroupService {
  constructor(
    private readonly d: { db: AgentDb; events: EventLog; runtime: ContainerRuntime; policy: AgentPolicy },
  ) {}

  private async row(name: string) {
    const g = await this.d.db.containerGroup.findUnique({ where: { name } });
    if (g) return g;
    const near = closest(
      name,
      (await this.d.db.containerGroup.findMany()).map((r) => r.name),
    );
    throw notFound(`group ${name}${near ? ` (did you mean ${near}?)` : ''}`);
  }

  /** The cgroup path of a group (or of ungrouped containers). */
  async path(name: string | undefined): Promise<string> {
    const base = this.d.policy.cgroupParent;
    if (!name) return base;
    const g = await this.row(name);
    return g.parent ? `${base}/g.${g.parent}/g.${g.name}` : `${base}/g.${g.name}`;
  }

  async create(name: string, parent: string | undefined, limits: Limits, actor: string): Promise<GroupInfo> {
    checkLimits(limits, this.d.policy.maxLimits, 'limits');
    if (await this.d.db.containerGroup.findUnique({ where: { name } }))
      throw conflict(`a group named ${name} already exists`);
    if (parent) {
      const p = await this.row(parent);
      if (p.parent)
        throw invalid('parent', `groups nest one level only, and ${parent} is already inside ${p.parent}`);
    }
    await this.d.db.containerGroup.create({
      data: { name, parent: parent ?? null, limits: JSON.stringify(limits) },
    });
    try {
      const cg = this.d.runtime.group(await this.path(name));
      await cg.create();
      await cg.apply(limitsToResources(limits));
    } catch (e) {
      await this.d.db.containerGroup.delete({ where: { name } });
      throw e;
    }
    await this.d.events.append('group.created', {
      actor,
      subject: name,
      data: { parent: parent ?? null, limits },
    });
    return this.inspect(name);
  }

  async update(name: string, limits: Limits, actor: string): Promise<GroupInfo> {
    checkLimits(limits, this.d.policy.maxLimits, 'limits');
    const g = await this.row(name);
    const merged = { ...(JSON.parse(g.limits) as Limits), ...limits };
    await this.d.runtime.group(await this.path(name)).apply(limitsToResources(limits));
    await this.d.db.containerGroup.update({ where: { name }, data: { limits: JSON.stringify(merged) } });
    await this.d.events.append('group.updated', { actor, subject: name, data: { limits: merged } });
    return this.inspect(name);
  }

  async delete(name: string, actor: string): Promise<void> {
    await this.row(name);
    const members = await this.d.db.container.count({ where: { groupName: name } });
    if (members > 0) throw conflict(`group ${name} still holds ${members} container(s)`);
    const children = await this.d.db.containerGroup.count({ where: { parent: name } });
    if (children > 0) throw conflict(`group ${name} still holds ${children} group(s)`);
    await this.d.runtime.group(await this.path(name)).destroy();
    await this.d.db.containerGroup.delete({ where: { name } });
    await this.d.events.append('group.deleted', { actor, subject: name });
  }

  async inspect(name: string): Promise<GroupInfo> {
    const g = await this.row(name);
    const containers = (
      await this.d.db.container.findMany({ where: { groupName: name }, select: { name: true } })
    ).map((c) => c.name);
    const children = (await this.d.db.containerGroup.findMany({ where: { parent: name } })).map(
      (c) => c.name,
    );
    const stats = await this.d.runtime
      .group(await this.path(name))
      .stats()
      .catch(() => ({}));
    return { name, parent: g.parent, limits: JSON.parse(g.limits) as Limits, containers, children, stats };
  }

  async list(): Promise<GroupInfo[]> {
    const rows = await this.d.db.containerGroup.findMany({ orderBy: { name: 'asc' } });
    return Promise.all(rows.map((r) => this.inspect(r.name)));
  }
}
