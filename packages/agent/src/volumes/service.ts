import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ContainerConfig, VolumeInfo } from '@berth/contracts';
import type { AgentDb } from '../db/index.ts';
import { conflict, notFound } from '../errors.ts';
import type { EventLog } from '../events/log.ts';

// Named volumes: <state dir>/volumes/<name>/_data, kept when a container is deleted.

export class VolumeService {
  constructor(private readonly d: { db: AgentDb; events: EventLog; dirOf: (name: string) => string }) {}

  async create(name: string, labels: Record<string, string>, actor: string): Promise<VolumeInfo> {
    if (await this.d.db.volume.findUnique({ where: { name } }))
      throw conflict(`a volume named ${name} already exists`);
    mkdirSync(dirname(this.d.dirOf(name)), { recursive: true, mode: 0o711 });
    chmodSync(dirname(this.d.dirOf(name)), 0o711);
    await this.d.db.volume.create({ data: { name, labels: JSON.stringify(labels) } });
    await this.d.events.append('volume.created', { actor, subject: name });
    return this.inspect(name);
  }

  private async usedBy(name: string): Promise<string[]> {
    const rows = await this.d.db.container.findMany({ select: { name: true, config: true } });
    return rows
      .filter((r) =>
        (JSON.parse(r.config) as ContainerConfig).volumes.some(
          (v) => v.type === 'volume' && v.source === name,
        ),
      )
      .map((r) => r.name);
  }

  async inspect(name: string): Promise<VolumeInfo> {
    const v = await this.d.db.volume.findUnique({ where: { name } });
    if (!v) throw notFound(`volume ${name}`);
    return {
      name,
      labels: JSON.parse(v.labels) as Record<string, string>,
      createdAt: v.createdAt.toISOString(),
      usedBy: await this.usedBy(name),
    };
  }

  async list(): Promise<VolumeInfo[]> {
    const rows = await this.d.db.volume.findMany({ orderBy: { name: 'asc' } });
    return Promise.all(rows.map((r) => this.inspect(r.name)));
  }

  async delete(name: string, actor: string): Promise<void> {
    const info = await this.inspect(name);
    if (info.usedBy.length > 0) throw conflict(`volume ${name} is used by ${info.usedBy.join(', ')}`);
    rmSync(dirname(this.d.dirOf(name)), { recursive: true, force: true });
    await this.d.db.volume.delete({ where: { name } });
    await this.d.events.append('volume.deleted', { actor, subject: name });
  }
}
