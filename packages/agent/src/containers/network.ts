import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentPolicy, ContainerNetworkInfo, PublishedPort, RateLimit } from '@berth/contracts';
import {
  type ContainerNetFiles,
  DEFAULT_DOMAIN,
  type Endpoint,
  NetworkManager as Manager,
  NetError,
  type NetworkManager,
  type NetworkRecord,
  nth,
  parsePrefix,
  prefixText,
  uplinkMtu,
} from '@berth/runtime/net';
import { AgentError } from '../errors.ts';
import { DbNetStateStore, migrateNetworkFile } from '../networks/store.ts';
import { resolveInRoot } from './files.ts';

// Bridge networking for berthd: @berth/runtime/net's NetworkManager, opened on first use (or
// at agent start when a network state exists, which rebuilds Berth's nftables tables, bridges
// and DNS responders from it). The state (networks, IPAM leases) lives in the agent DB through
// DbNetStateStore (networks/store.ts: its own connection, every commit synced, so a lease is
// durable before its link comes up); berthd is its only writer. A state an earlier berthd kept
// in <stateDir>/network.json is moved into the DB once, at the first open. Leases live beside
// the containers but not tied to them by a foreign key (a delete removes the container's row
// and its lease in two steps); a lease whose container the DB no longer has is pruned at start,
// so the two cannot disagree for longer than a restart.

export interface AttachRequest {
  containerId: string;
  pid: number;
  /** The container's network mode: "bridge" (the default network) or a network's name. */
  network: string;
  hostname: string;
  aliases: string[];
  ports: PublishedPort[];
  rateLimit?: RateLimit;
}

/** Whether a container's network mode puts it on a bridge network (the default or a named one). */
export function onBridgeNetwork(mode: string): boolean {
  return mode !== 'none' && mode !== 'host' && !mode.startsWith('container:');
}

// ---- `container:NAME`: sharing another container's network namespace ----
//
// The peer's namespace is its init's, which is a new one each time the peer starts. So the
// path is resolved at every start of the dependent (never kept from its create), and a
// dependent is refused while its peer is not running. When the peer stops (a stop, an exit,
// a restart), its running dependents are stopped after it, with an event naming the peer;
// when the peer starts again, the dependents a user did not stop are started after it, in its
// new namespace: a pod's containers follow its network, as in Kubernetes. The peer cannot be
// deleted or renamed while dependents exist, unless the delete is forced (they are stopped).

/** The container whose network namespace a `container:NAME` mode joins. */
export function networkPeer(mode: string): string | undefined {
  return mode.startsWith('container:') ? mode.slice('container:'.length) : undefined;
}

/** The kernel's identity of a namespace (`net:[inode]`), or undefined when it is gone. */
export function netnsIdentity(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The OCI spec with its network namespace joined at `path`. */
export function joinNetnsIn<S extends { linux?: { namespaces?: Array<{ type: string; path?: string }> } }>(
  spec: S,
  path: string,
): S {
  const namespaces = (spec.linux?.namespaces ?? []).map((n) =>
    n.type === 'network' ? { type: 'network', path } : n,
  );
  return { ...spec, linux: { ...spec.linux, namespaces } };
}

export class ContainerNetworks {
  private manager?: Promise<NetworkManager>;
  /** The manager once open: what info() reads synchronously. */
  private opened?: NetworkManager;

  constructor(
    private readonly policy: AgentPolicy['network'],
    private readonly stateDir: string,
  ) {}

  private storeInstance?: DbNetStateStore;

  /** The network state a berthd before the DB store kept (moved into the DB at first open). */
  private get legacyFile(): string {
    return join(this.stateDir, 'network.json');
  }

  private get store(): DbNetStateStore {
    this.storeInstance ??= new DbNetStateStore(join(this.stateDir, 'agent.db'));
    return this.storeInstance;
  }

  /** Name of the default network (what mode "bridge" means). */
  get defaultName(): string {
    return this.policy.bridge;
  }

  /** Whether a network state exists (then the manager is opened at start to restore it). */
  hasState(): boolean {
    return existsSync(this.legacyFile) || this.store.hasState();
  }

  open(): Promise<NetworkManager> {
    this.manager ??= this.openManager();
    return this.manager;
  }

  private async openManager(): Promise<NetworkManager> {
    try {
      if (await migrateNetworkFile(this.legacyFile, this.store))
        console.error(`berthd: network state moved from ${this.legacyFile} into the agent DB`);
      this.opened = await Manager.open({
        store: this.store,
        table: this.policy.table,
        hostIfPrefix: this.policy.hostIfPrefix,
        forwarding: this.policy.forwarding,
        firewall: this.policy.firewall,
        defaultNetwork: { name: this.policy.bridge, bridge: this.policy.bridge, subnet: this.policy.subnet },
      });
      return this.opened;
    } catch (e) {
      this.manager = undefined;
      throw toAgentError(e);
    }
  }

  /** At agent start: restore the host from the state; drop leases of containers that are gone. */
  async restore(exists: (containerId: string) => boolean): Promise<string[]> {
    if (!this.hasState()) return [];
    const m = await this.open();
    return m.prune(exists);
  }

  /** The network a mode names ("bridge": the default one), made first if it is the default. */
  private async networkOf(m: NetworkManager, mode: string): Promise<NetworkRecord> {
    if (mode === 'bridge' || mode === this.policy.bridge) return m.ensureDefaultNetwork();
    const net = m.getNetwork(mode);
    if (!net) throw new AgentError('NOT_FOUND', `network ${mode} not found (berth network ls)`);
    return net;
  }

  /** Refuses a mode naming a network that does not exist (checked at create, again at start). */
  async check(mode: string): Promise<void> {
    if (!onBridgeNetwork(mode) || mode === 'bridge' || mode === this.policy.bridge) return;
    await this.networkOf(await this.open(), mode);
  }

  /** Attaches a created container (its init's netns) to its network. */
  async attach(req: AttachRequest): Promise<Endpoint> {
    const m = await this.open();
    try {
      const net = await this.networkOf(m, req.network);
      await m.detach(req.containerId);
      return await m.attach({
        containerId: req.containerId,
        network: net.name,
        netns: { path: `/proc/${req.pid}/ns/net` },
        hostname: req.hostname,
        aliases: req.aliases,
        ports: req.ports,
        ...(req.rateLimit ? { rateLimit: req.rateLimit } : {}),
      });
    } catch (e) {
      throw toAgentError(e);
    }
  }

  /** Releases the container's veth, firewall elements and lease. Idempotent. */
  async detach(containerId: string): Promise<void> {
    if (!this.manager && !this.hasState()) return;
    const m = await this.open();
    await m.detach(containerId);
  }

  /** Where a container is on a bridge network now (undefined when it has no endpoint). */
  containerInfo(containerId: string): ContainerNetworkInfo | undefined {
    const ep = this.opened?.getEndpoint(containerId);
    if (!ep) return undefined;
    const net = this.opened?.getNetwork(ep.network);
    return {
      network: ep.network,
      ip: ep.ip,
      ...(ep.ip6 ? { ip6: ep.ip6 } : {}),
      mac: ep.mac,
      gateway: net?.gateway ?? '',
      ...(net?.gateway6 ? { gateway6: net.gateway6 } : {}),
      ports: ep.ports,
      ...(ep.rateLimit ? { rateLimit: ep.rateLimit } : {}),
    };
  }

  /** Whether a host link is one of Berth's: a container's veth end or a network's bridge. */
  isOwnLink(name: string): boolean {
    if (name.startsWith(this.policy.hostIfPrefix)) return true;
    const nets = this.opened?.listNetworks();
    return nets ? nets.some((n) => n.bridge === name) : name === this.policy.bridge;
  }

  /** The host end of the container's veth pair (for the metrics sampler). */
  hostIf(containerId: string): string | undefined {
    return this.opened?.getEndpoint(containerId)?.hostIf;
  }

  // ---- networks (berth network ...) ----

  /** The networks, the default one included before its first use (`pending`: not made yet;
   * listing it does not make it, so an agent that never runs a bridged container adds no
   * bridge or firewall table to its host). */
  async list(): Promise<Array<NetworkRecord & { pending?: boolean }>> {
    const nets: Array<NetworkRecord & { pending?: boolean }> =
      this.manager || this.hasState() ? (await this.open()).listNetworks() : [];
    if (!nets.some((n) => n.name === this.policy.bridge)) nets.push(await this.pendingDefault());
    return nets;
  }

  private async pendingDefault(): Promise<NetworkRecord & { pending: true }> {
    const subnet = parsePrefix(this.policy.subnet);
    return {
      name: this.policy.bridge,
      bridge: this.policy.bridge,
      subnet: prefixText(subnet),
      gateway: nth(subnet, 1n),
      mtu: await uplinkMtu(),
      isolated: false,
      domain: DEFAULT_DOMAIN,
      ipamCursor: '1',
      createdAt: '',
      pending: true,
    };
  }

  async get(name: string): Promise<NetworkRecord> {
    const net = (await this.list()).find((n) => n.name === name);
    if (!net) throw new AgentError('NOT_FOUND', `network ${name} not found`);
    return net;
  }

  /** Endpoints on a network: container id, address, MAC. */
  async endpointsOf(
    name: string,
  ): Promise<Array<{ containerId: string; ip: string; ip6?: string; mac: string }>> {
    if (!this.manager && !this.hasState()) return [];
    return (await this.open()).listEndpoints().filter((e) => e.network === name);
  }

  async create(spec: {
    name: string;
    subnet: string;
    subnet6?: string;
    isolated: boolean;
    mtu?: number;
  }): Promise<NetworkRecord> {
    if (spec.name === this.policy.bridge)
      throw new AgentError('CONFLICT', `network ${spec.name}: that is the name of the default network`);
    const m = await this.open();
    try {
      return await m.createNetwork({
        name: spec.name,
        bridge: this.bridgeFor(spec.name),
        subnet: spec.subnet,
        ...(spec.subnet6 ? { subnet6: spec.subnet6 } : {}),
        isolated: spec.isolated,
        ...(spec.mtu ? { mtu: spec.mtu } : {}),
      });
    } catch (e) {
      throw toAgentError(e);
    }
  }

  /** A user network's bridge: never the network's own name, which could be a host interface's
   * (a bridge of that name would be adopted). Distinct per table, so test agents never share. */
  private bridgeFor(name: string): string {
    return `br-${createHash('sha256').update(`${this.policy.table}/${name}`).digest('hex').slice(0, 10)}`;
  }

  /** Deletes a network; refused while containers are attached unless `force` (they are
   * detached first, and keep running without a network). Returns the detached container ids. */
  async remove(name: string, force: boolean): Promise<string[]> {
    const m = await this.open();
    const attached = m.listEndpoints().filter((e) => e.network === name);
    try {
      if (!m.getNetwork(name)) throw new AgentError('NOT_FOUND', `network ${name} not found`);
      if (attached.length && !force)
        throw new AgentError(
          'CONFLICT',
          `network ${name} has ${attached.length} container(s) attached; stop them first or use --force`,
        );
      for (const ep of attached) await m.detach(ep.containerId);
      await m.deleteNetwork(name);
      return attached.map((e) => e.containerId);
    } catch (e) {
      throw toAgentError(e);
    }
  }

  async close(): Promise<void> {
    const m = await this.manager?.catch(() => undefined);
    await m?.close();
    this.storeInstance?.close();
    this.storeInstance = undefined;
  }
}

/** /etc/resolv.conf, /etc/hosts and /etc/hostname into the container's root (owned by its root). */
export function writeNetFiles(rootfs: string, files: ContainerNetFiles, uid: number, gid: number): void {
  for (const [path, text] of [
    ['/etc/resolv.conf', files.resolvConf],
    ['/etc/hosts', files.hosts],
    ['/etc/hostname', files.hostname],
  ] as const) {
    const host = resolveInRoot(rootfs, path);
    if (!host.startsWith(`${rootfs}/`)) throw new AgentError('INTERNAL', `${path}: outside the root`);
    mkdirSync(dirname(host), { recursive: true, mode: 0o755 });
    // A symlink the image shipped (resolv.conf → ../run/...) is replaced, never followed.
    rmSync(host, { force: true });
    writeFileSync(host, text, { mode: 0o644, flag: 'wx' });
    chownSync(host, uid, gid);
  }
}

function toAgentError(e: unknown): Error {
  if (e instanceof NetError) return new AgentError(e.errorCode, `network: ${e.message}`);
  return e as Error;
}
