import type { NetworkInfo } from '@berth/contracts';
import type { NetworkRecord } from '@berth/runtime/net';
import type { ContainerNetworks } from '../containers/network.ts';
import type { AgentDb } from '../db/index.ts';
import type { EventLog } from '../events/log.ts';

// berth network create/ls/inspect/rm: bridge networks as the API shows them, with the
// containers on each by name. The networks themselves are ContainerNetworks' (one manager
// for the containers' attach and for these).

export class NetworkService {
  constructor(private readonly d: { db: AgentDb; events: EventLog; networks: ContainerNetworks }) {}

  async list(): Promise<NetworkInfo[]> {
    const names = await this.containerNames();
    const nets = await this.d.networks.list();
    const out: NetworkInfo[] = [];
    for (const n of nets.sort((a, b) => a.name.localeCompare(b.name))) out.push(await this.info(n, names));
    return out;
  }

  async inspect(name: string): Promise<NetworkInfo> {
    return this.info(await this.d.networks.get(name), await this.containerNames());
  }

  async create(
    input: { name: string; subnet: string; subnet6?: string; isolated: boolean; mtu?: number },
    actor: string,
  ): Promise<NetworkInfo> {
    const rec = await this.d.networks.create(input);
    await this.d.events.append('network.created', {
      actor,
      subject: rec.name,
      data: { subnet: rec.subnet, subnet6: rec.subnet6 ?? null, isolated: rec.isolated, bridge: rec.bridge },
    });
    return this.info(rec, new Map());
  }

  async remove(name: string, force: boolean, actor: string): Promise<{ detached: string[] }> {
    const names = await this.containerNames();
    const ids = await this.d.networks.remove(name, force);
    const detached = ids.map((id) => names.get(id) ?? id);
    await this.d.events.append('network.removed', { actor, subject: name, data: { detached } });
    return { detached };
  }

  private async containerNames(): Promise<Map<string, string>> {
    const rows = await this.d.db.container.findMany({ select: { id: true, name: true } });
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  private async info(
    n: NetworkRecord & { pending?: boolean },
    names: Map<string, string>,
  ): Promise<NetworkInfo> {
    const eps = await this.d.networks.endpointsOf(n.name);
    return {
      name: n.name,
      default: n.name === this.d.networks.defaultName,
      bridge: n.bridge,
      subnet: n.subnet,
      gateway: n.gateway,
      ...(n.subnet6 ? { subnet6: n.subnet6 } : {}),
      ...(n.gateway6 ? { gateway6: n.gateway6 } : {}),
      mtu: n.mtu,
      isolated: n.isolated,
      domain: n.domain,
      createdAt: n.createdAt,
      ...(n.pending ? { pending: true } : {}),
      containers: eps
        .map((e) => ({
          containerId: e.containerId,
          container: names.get(e.containerId) ?? null,
          ip: e.ip,
          ...(e.ip6 ? { ip6: e.ip6 } : {}),
          mac: e.mac,
        }))
        .sort((a, b) => (a.container ?? '').localeCompare(b.container ?? '')),
    };
  }
}
