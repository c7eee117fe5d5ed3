// NetworkManager: the one object the agent drives. It owns the order of things: every change
// is recorded through the NetStateStore first, then the kernel is brought to match (links,
// addresses, the firewall table, sysctls, DNS responders), and undone if that fails.
// Operations are serialised: each reads and writes the whole state.
import { createHash, randomBytes } from 'node:crypto';
import { contains, macFor, nth, overlaps, parsePrefix, prefixText, randomUla } from './addr.ts';
import {
  DnsResponder,
  hostResolvers,
  type NameRecord,
  type ResolverConfig,
  renderHostname,
  renderHosts,
  renderResolvConf,
  type Upstream,
} from './dns.ts';
import { NetError } from './errors.ts';
import { detectFirewall } from './firewall.ts';
import { allocate } from './ipam.ts';
import { applyIptables, deleteIptables, renderIptables } from './iptables.ts';
import {
  containerCounters,
  createVeth,
  ensureBridge,
  hostPrefixes,
  type LinkCounters,
  linkNamesOfType,
  type NetnsRef,
  netnsPath,
  plugHostEnd,
  removeLink,
  uplinkMtu,
  type VethSpec,
  vethNames,
} from './links.ts';
import {
  applyRuleset,
  deleteTables,
  type FirewallOptions,
  renderEndpointChange,
  renderRuleset,
} from './nft.ts';
import { checkHostPortFree, checkNotPublished } from './ports.ts';
import { IP_TOOL, NFT_TOOL, ToolSession } from './session.ts';
import { type AttachSpec, attachSpec, type NetworkSpec, networkSpec, parse } from './spec.ts';
import { antiSpoofLines } from './spoof.ts';
import type { EndpointRecord, NetState, NetStateStore, NetworkRecord } from './state.ts';
import { syncForwarding } from './sysctl.ts';
import { egressShaperLines, rateLimitLines, tcBatch } from './tc.ts';

export interface DnsOptions {
  /** Run a responder per network on its gateway (default true). */
  enabled?: boolean;
  /** Default 53. */
  port?: number;
  /** Where names not on the network go; default the host's resolvers (port 53). */
  upstreams?: Upstream[];
}

export interface NetworkManagerOptions {
  store: NetStateStore;
  /** Name of Berth's nftables tables (default "berth"). */
  table?: string;
  dns?: DnsOptions;
  /** The default network (`berth0`, 10.87.0.0/16). */
  defaultNetwork?: NetworkSpec;
  /** Prefix of host-side veth names (2-4 characters, default "vb"); the firewall treats every
   * interface with it as Berth's. */
  hostIfPrefix?: string;
  /** How routing is switched on while networks exist: "global" sets net.ipv4.ip_forward (and
   * IPv6 forwarding for IPv6 networks), saving and restoring the host's value; "bridges" only
   * sets forwarding on Berth's own bridges (enough between networks, for published ports and
   * hairpin, not for egress to the outside; used by tests that share a host). */
  forwarding?: 'global' | 'bridges';
  /** Where sysctls are read and written (default /proc/sys; tests point it at a directory). */
  sysctlRoot?: string;
  /** Check published host ports by binding them for a moment (default true). */
  checkHostPorts?: boolean;
  /** Which packet filter: "auto" (default) detects nft, then iptables; the others insist. */
  firewall?: 'auto' | 'nft' | 'iptables';
}

export const DEFAULT_NETWORK: NetworkSpec = { name: 'berth0', bridge: 'berth0', subnet: '10.87.0.0/16' };
export const DEFAULT_DOMAIN = 'berth.internal';

export interface ContainerNetFiles {
  resolvConf: string;
  hosts: string;
  hostname: string;
}

export interface Endpoint extends EndpointRecord {
  gateway: string;
  gateway6?: string;
  prefixLength: number;
  files: ContainerNetFiles;
}

export interface EndpointStats extends LinkCounters {
  containerId: string;
}

export class NetworkManager {
  private chain: Promise<unknown> = Promise.resolve();
  private state!: NetState;
  /** Per network: a responder on its gateway, and one on its IPv6 gateway if it has one. */
  private readonly responders = new Map<string, DnsResponder[]>();
  /** Set by destroy(): what it tears down step by step is not brought back up (DNS responders
   * of the networks still left, whose bridges may already be gone). */
  private destroying = false;
  // Persistent ip and nft processes for per-container work (see session.ts).
  private readonly ipSession = new ToolSession(IP_TOOL);
  private readonly nftSession = new ToolSession(NFT_TOOL);
  private readonly hostIp = (lines: string[]): Promise<void> => this.ipSession.exec(lines);
  private readonly nftElements = (text: string): Promise<void> =>
    this.nftSession.exec(text.trim().split('\n'));
  private hostResolverCache?: ResolverConfig;
  /** The packet filter in use (nft; iptables where nft is missing: iptables.ts). */
  firewall: 'nft' | 'iptables' = 'nft';
  readonly table: string;
  readonly hostIfPrefix: string;

  private constructor(private readonly opts: NetworkManagerOptions) {
    this.table = opts.table ?? 'berth';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(this.table))
      throw new NetError('invalid_argument', 'table: not a valid nftables table name', 'table');
    this.hostIfPrefix = opts.hostIfPrefix ?? 'vb';
    if (!/^[a-z][a-z0-9]{1,3}$/.test(this.hostIfPrefix))
      throw new NetError(
        'invalid_argument',
        'hostIfPrefix: must be 2-4 lower-case letters or digits',
        'hostIfPrefix',
      );
  }

  /** Loads the state and brings the host back in line with it: bridges, the firewall table
   * (rebuilt whole), forwarding, DNS responders. Safe to call on every agent start. */
  static async open(opts: NetworkManagerOptions): Promise<NetworkManager> {
    const m = new NetworkManager(opts);
    const want = opts.firewall ?? 'auto';
    const fw = want === 'auto' ? await detectFirewall() : want;
    if (fw === 'none') throw new NetError('unavailable', 'no packet filter on this host: install nftables');
    if (want !== 'auto' && !(await detectFirewall(want)))
      throw new NetError('unavailable', `firewall: ${want} does not work on this host`, 'firewall');
    m.firewall = fw;
    m.state = await opts.store.read();
    await m.serial(() => m.restore());
    return m;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async commit(state: NetState): Promise<void> {
    await this.opts.store.write(state);
    this.state = state;
  }

  private clone(): NetState {
    return structuredClone(this.state);
  }

  private async restore(): Promise<void> {
    for (const n of Object.values(this.state.networks)) await ensureBridge(n);
    // Host ends with Berth's prefix but no lease: left by a crash in the middle of attach.
    const known = new Set(Object.values(this.state.endpoints).map((e) => e.hostIf));
    const veths = await vethNames();
    for (const name of veths) {
      if (name.startsWith(this.hostIfPrefix) && !known.has(name)) await removeLink(name);
    }
    // With iptables the guards are on the links, which outlive the agent; put them back anyway
    // (the host may have switched from nft, or someone removed a qdisc).
    if (this.firewall === 'iptables')
      for (const ep of Object.values(this.state.endpoints))
        if (veths.includes(ep.hostIf)) await tcBatch(ep.hostIf, antiSpoofLines(ep.hostIf, ep));
    // Egress shapers' ifb devices whose container is gone (a crash between attach and detach).
    const ifbs = new Set(Object.values(this.state.endpoints).map((e) => this.egressIfb(e)));
    for (const name of await linkNamesOfType('ifb'))
      if (name.startsWith(`${this.hostIfPrefix}i`) && !ifbs.has(name)) await removeLink(name);
    await this.syncHost();
  }

  /** Firewall + sysctls + DNS responders from the current state. */
  private async syncHost(): Promise<void> {
    await this.applyFirewall();
    await this.syncSysctls();
    await this.syncResponders();
  }

  private fwOpts(): FirewallOptions {
    return { table: this.table, hostIfPrefix: this.hostIfPrefix };
  }

  private applyFirewall(state = this.state): Promise<void> {
    if (this.firewall === 'iptables') return applyIptables(state, this.fwOpts());
    return applyRuleset(renderRuleset(state, this.fwOpts()));
  }

  /** One container's rules: set and map elements with nft, Berth's chains rebuilt with iptables. */
  private endpointFirewall(ep: EndpointRecord, op: 'add' | 'delete', state: NetState): Promise<void> {
    if (this.firewall === 'iptables') return applyIptables(state, this.fwOpts(), false);
    return this.nftElements(renderEndpointChange(ep, op, this.fwOpts()));
  }

  /** Renders the firewall as it would be applied now (for inspection and tests). */
  renderFirewall(): string {
    if (this.firewall === 'iptables')
      return `${renderIptables(this.state, this.fwOpts(), 4)}${renderIptables(this.state, this.fwOpts(), 6)}`;
    return renderRuleset(this.state, this.fwOpts());
  }

  /** Rebuilds Berth's firewall tables from the state in one transaction (idempotent). */
  rebuildFirewall(): Promise<void> {
    return this.serial(() => this.applyFirewall());
  }

  private async syncSysctls(): Promise<void> {
    const saved = await syncForwarding({
      networks: Object.values(this.state.networks),
      saved: this.state.savedSysctls ?? {},
      mode: this.opts.forwarding ?? 'global',
      root: this.opts.sysctlRoot ?? '/proc/sys',
      // The host's own value is durable before it is changed.
      persist: (savedSysctls) => this.commit({ ...this.state, savedSysctls }),
    });
    if (JSON.stringify(saved) !== JSON.stringify(this.state.savedSysctls ?? {}))
      await this.commit({ ...this.state, savedSysctls: saved });
  }

  private dnsEnabled(): boolean {
    return this.opts.dns?.enabled ?? true;
  }

  private async upstreams(): Promise<Upstream[]> {
    if (this.opts.dns?.upstreams) return this.opts.dns.upstreams;
    return (await this.hostResolvers()).nameservers.map((address) => ({ address, port: 53 }));
  }

  private async hostResolvers(): Promise<ResolverConfig> {
    this.hostResolverCache ??= await hostResolvers();
    return this.hostResolverCache;
  }

  private async syncResponders(): Promise<void> {
    for (const [name, rs] of this.responders) {
      if (!this.state.networks[name] || !this.dnsEnabled()) {
        for (const r of rs) await r.stop();
        this.responders.delete(name);
      }
    }
    if (!this.dnsEnabled() || this.destroying) return;
    for (const n of Object.values(this.state.networks)) {
      if (this.responders.has(n.name)) continue;
      const rs: DnsResponder[] = [];
      this.responders.set(n.name, rs);
      for (const address of [n.gateway, ...(n.gateway6 ? [n.gateway6] : [])]) {
        const r = new DnsResponder({
          address,
          port: this.opts.dns?.port ?? 53,
          domain: n.domain,
          lookup: (name) => this.lookup(n.name, name),
          upstreams: await this.upstreams(),
        });
        await r.start();
        rs.push(r);
      }
    }
  }

  private async stopResponders(): Promise<void> {
    for (const rs of this.responders.values()) for (const r of rs) await r.stop();
    this.responders.clear();
  }

  private lookup(network: string, name: string): NameRecord | undefined {
    const rec: NameRecord = { a: [], aaaa: [] };
    for (const ep of Object.values(this.state.endpoints)) {
      if (ep.network !== network) continue;
      if (ep.hostname !== name && !ep.aliases.includes(name)) continue;
      rec.a.push(ep.ip);
      if (ep.ip6) rec.aaaa.push(ep.ip6);
    }
    return rec.a.length ? rec : undefined;
  }

  // ---- networks ----

  listNetworks(): NetworkRecord[] {
    return Object.values(this.state.networks);
  }

  getNetwork(name: string): NetworkRecord | undefined {
    return this.state.networks[name];
  }

  /** Creates the default network if it does not exist. */
  async ensureDefaultNetwork(): Promise<NetworkRecord> {
    const spec = this.opts.defaultNetwork ?? DEFAULT_NETWORK;
    return this.state.networks[spec.name] ?? this.createNetwork(spec);
  }

  createNetwork(input: NetworkSpec): Promise<NetworkRecord> {
    const spec = parse(networkSpec, input, 'network');
    return this.serial(async () => {
      const state = this.clone();
      if (state.networks[spec.name])
        throw new NetError('already_exists', `network ${spec.name} already exists`, 'name');
      const bridge = spec.bridge ?? spec.name;
      if (bridge.length > 15)
        throw new NetError(
          'invalid_argument',
          `bridge: "${bridge}" is longer than 15 characters; name the bridge`,
          'bridge',
        );
      const others = Object.values(state.networks);
      if (others.some((n) => n.bridge === bridge))
        throw new NetError('already_exists', `bridge: ${bridge} is used by another network`, 'bridge');
      const subnet = parsePrefix(spec.subnet ?? '10.87.0.0/16');
      if (subnet.length > 30)
        throw new NetError('invalid_argument', 'subnet: must be /30 or larger', 'subnet');
      for (const n of others) {
        if (overlaps(subnet, parsePrefix(n.subnet)))
          throw new NetError(
            'conflict',
            `subnet: ${prefixText(subnet)} overlaps network ${n.name} (${n.subnet})`,
            'subnet',
          );
      }
      const bridges = others.map((n) => n.bridge);
      const host = await hostPrefixes([...bridges, bridge]);
      const clash = host.find((r) => overlaps(subnet, parsePrefix(r.prefix)));
      if (clash)
        throw new NetError(
          'conflict',
          `subnet: ${prefixText(subnet)} overlaps the host's route ${clash.prefix} on ${clash.dev}`,
          'subnet',
        );
      const gateway = spec.gateway ?? nth(subnet, 1n);
      if (!contains(subnet, gateway) || gateway === subnet.network)
        throw new NetError(
          'invalid_argument',
          `gateway: ${gateway} is not a host address in ${prefixText(subnet)}`,
          'gateway',
        );
      let subnet6: string | undefined;
      let gateway6: string | undefined;
      if (spec.subnet6) {
        const p6 = parsePrefix(spec.subnet6 === 'auto' ? randomUla(randomBytes) : spec.subnet6);
        if (p6.length > 120)
          throw new NetError('invalid_argument', 'subnet6: must be /120 or larger', 'subnet6');
        if (128 - p6.length < 32 - subnet.length)
          throw new NetError(
            'invalid_argument',
            'subnet6: must have at least as many addresses as subnet',
            'subnet6',
          );
        for (const n of others)
          if (n.subnet6 && overlaps(p6, parsePrefix(n.subnet6)))
            throw new NetError('conflict', `subnet6: overlaps network ${n.name} (${n.subnet6})`, 'subnet6');
        const clash6 = host.find((r) => overlaps(p6, parsePrefix(r.prefix)));
        if (clash6)
          throw new NetError('conflict', `subnet6: overlaps the host's route ${clash6.prefix}`, 'subnet6');
        subnet6 = prefixText(p6);
        gateway6 = nth(p6, 1n);
      }
      const rec: NetworkRecord = {
        name: spec.name,
        bridge,
        subnet: prefixText(subnet),
        gateway,
        ...(subnet6 ? { subnet6, gateway6 } : {}),
        mtu: spec.mtu ?? (await uplinkMtu()),
        isolated: spec.isolated ?? false,
        domain: spec.domain ?? DEFAULT_DOMAIN,
        ipamCursor: '1',
        createdAt: new Date().toISOString(),
      };
      state.networks[rec.name] = rec;
      await this.commit(state);
      try {
        await ensureBridge(rec);
        await this.syncHost();
      } catch (e) {
        await this.removeNetwork(rec).catch(() => {});
        throw e;
      }
      return rec;
    });
  }

  /** Deletes a network; refused while containers are attached to it. */
  deleteNetwork(name: string): Promise<void> {
    return this.serial(async () => {
      const net = this.state.networks[name];
      if (!net) throw new NetError('not_found', `network ${name} does not exist`, 'name');
      const users = Object.values(this.state.endpoints).filter((e) => e.network === name);
      if (users.length)
        throw new NetError(
          'conflict',
          `network ${name} has ${users.length} container(s) attached (${users.map((u) => u.containerId).join(', ')})`,
          'name',
        );
      await this.removeNetwork(net);
    });
  }

  private async removeNetwork(net: NetworkRecord): Promise<void> {
    const state = this.clone();
    delete state.networks[net.name];
    await this.commit(state);
    await this.syncHost();
    await removeLink(net.bridge, this.hostIp);
  }

  // ---- containers ----

  getEndpoint(containerId: string): EndpointRecord | undefined {
    return this.state.endpoints[containerId];
  }

  listEndpoints(): EndpointRecord[] {
    return Object.values(this.state.endpoints);
  }

  /** Connects a container's network namespace to a network: eth0 with an address from IPAM, a
   * default route via the gateway, its published ports. Returns the endpoint and the contents
   * of the container's /etc/resolv.conf, /etc/hosts and /etc/hostname. */
  attach(input: AttachSpec): Promise<Endpoint> {
    const spec = parse(attachSpec, input, 'attach');
    return this.serial(async () => {
      const state = this.clone();
      const net = state.networks[spec.network];
      if (!net) throw new NetError('not_found', `network: ${spec.network} does not exist`, 'network');
      if (state.endpoints[spec.containerId])
        throw new NetError(
          'already_exists',
          `containerId: ${spec.containerId} is already attached to ${state.endpoints[spec.containerId]!.network}`,
          'containerId',
        );
      checkNotPublished(state, spec.containerId, spec.ports);
      if (this.opts.checkHostPorts ?? true)
        await Promise.all(spec.ports.map((p, i) => checkHostPortFree(p, `ports[${i}]`)));
      const { lease, cursor } = allocate(state, net, BigInt(net.ipamCursor), spec.ip);
      const ep: EndpointRecord = {
        containerId: spec.containerId,
        network: net.name,
        hostIf: this.hostIfFor(spec.containerId, state),
        ip: lease.ip,
        ...(lease.ip6 ? { ip6: lease.ip6 } : {}),
        mac: macFor(lease.ip),
        hostname: spec.hostname,
        aliases: spec.aliases,
        ports: spec.ports,
        ...(spec.rateLimit ? { rateLimit: spec.rateLimit } : {}),
        createdAt: new Date().toISOString(),
      };
      state.endpoints[ep.containerId] = ep;
      state.networks[net.name] = { ...net, ipamCursor: cursor.toString() };
      const prefixLength = parsePrefix(net.subnet).length;
      const veth: VethSpec = {
        hostIf: ep.hostIf,
        bridge: net.bridge,
        netns: netnsPath(spec.netns as NetnsRef),
        mtu: net.mtu,
        mac: ep.mac,
        ip: ep.ip,
        prefixLength,
        gateway: net.gateway,
        ...(ep.ip6 && net.subnet6
          ? { ip6: ep.ip6, prefixLength6: parsePrefix(net.subnet6).length, gateway6: net.gateway6 }
          : {}),
        isolated: net.isolated,
      };
      try {
        // Three things at once, none of which lets a packet through yet: the lease is written
        // (durably), the firewall learns the port (until then the bridge drops what the port
        // sends), and the pair is made inside the container with its host end down. Only once
        // the lease is durable does the host end go up: a crash before that leaves a down
        // link with Berth's prefix and no lease, which restore() removes, never an address in
        // use that IPAM could hand out again.
        await Promise.all([this.commit(state), this.endpointFirewall(ep, 'add', state), createVeth(veth)]);
        // The host end's tc: its ingress shaping and, with iptables, the anti-spoofing guard
        // and the egress shaper's ifb (before it goes up: with iptables the bridge has no
        // per-port rule to wait for).
        if (this.egressIfb(ep))
          await this.hostIp([`link add ${this.egressIfb(ep)} type ifb`, `link set ${this.egressIfb(ep)} up`]);
        await tcBatch(ep.hostIf, this.hostEndTc(ep));
        await plugHostEnd(veth, this.hostIp);
      } catch (e) {
        await this.removeEndpoint(ep).catch(() => {});
        throw e;
      }
      return {
        ...ep,
        gateway: net.gateway,
        ...(net.gateway6 ? { gateway6: net.gateway6 } : {}),
        prefixLength,
        files: await this.filesFor(ep, net),
      };
    });
  }

  private hostEndTc(ep: EndpointRecord): string[] {
    const ifb = this.egressIfb(ep);
    return [
      ...(this.firewall === 'iptables' ? antiSpoofLines(ep.hostIf, ep) : []),
      ...(ep.rateLimit ? rateLimitLines(ep.hostIf, ep.rateLimit) : []),
      ...(ifb && ep.rateLimit?.egressBps ? egressShaperLines(ep.hostIf, ifb, ep.rateLimit.egressBps) : []),
    ];
  }

  /** With iptables, a rate-limited container's egress goes through an ifb device of its own
   * (tc.ts): its host end's name with an "i" after the prefix (never a veth's: those are hex). */
  private egressIfb(ep: EndpointRecord): string | undefined {
    if (this.firewall !== 'iptables' || !ep.rateLimit?.egressBps) return undefined;
    const p = this.hostIfPrefix.length;
    return `${ep.hostIf.slice(0, p)}i${ep.hostIf.slice(p, 14)}`;
  }

  /** Host-side interface name: stable per container, unique among the endpoints. */
  private hostIfFor(containerId: string, state: NetState): string {
    const taken = new Set(Object.values(state.endpoints).map((e) => e.hostIf));
    for (let salt = 0; ; salt++) {
      const hash = createHash('sha256').update(`${containerId}/${salt}`).digest('hex');
      const name = `${this.hostIfPrefix}${hash.slice(0, 15 - this.hostIfPrefix.length)}`;
      if (!taken.has(name)) return name;
    }
  }

  private async filesFor(ep: EndpointRecord, net: NetworkRecord): Promise<ContainerNetFiles> {
    const host = await this.hostResolvers();
    const resolv: ResolverConfig = this.dnsEnabled()
      ? {
          nameservers: [net.gateway, ...(net.gateway6 ? [net.gateway6] : [])],
          search: [net.domain, ...host.search],
          options: host.options,
        }
      : host;
    return {
      resolvConf: renderResolvConf(resolv),
      hosts: renderHosts({
        hostname: ep.hostname,
        domain: net.domain,
        ip: ep.ip,
        ip6: ep.ip6,
        aliases: ep.aliases,
      }),
      hostname: renderHostname(ep.hostname),
    };
  }

  /** Disconnects a container: its veth pair, firewall rules and lease go. Idempotent. */
  detach(containerId: string): Promise<void> {
    return this.serial(async () => {
      const ep = this.state.endpoints[containerId];
      if (ep) await this.removeEndpoint(ep);
    });
  }

  private async removeEndpoint(ep: EndpointRecord): Promise<void> {
    const state = this.clone();
    delete state.endpoints[ep.containerId];
    await this.commit(state);
    const ifb = this.egressIfb(ep);
    await Promise.all([
      removeLink(ep.hostIf, this.hostIp),
      ...(ifb ? [removeLink(ifb, this.hostIp)] : []),
      // Elements missing (e.g. the table was rebuilt by hand): rebuild from the state instead.
      this.endpointFirewall(ep, 'delete', state).catch(() => this.applyFirewall()),
    ]);
  }

  /** Drops the leases of containers that no longer exist (after an agent crash). */
  prune(exists: (containerId: string) => boolean): Promise<string[]> {
    return this.serial(async () => {
      const gone = Object.values(this.state.endpoints).filter((e) => !exists(e.containerId));
      for (const ep of gone) await this.removeEndpoint(ep);
      return gone.map((e) => e.containerId);
    });
  }

  async stats(containerId: string): Promise<EndpointStats> {
    const ep = this.state.endpoints[containerId];
    if (!ep)
      throw new NetError('not_found', `container ${containerId} has no network endpoint`, 'containerId');
    return { containerId, ...(await containerCounters(ep.hostIf)) };
  }

  /** Stops the DNS responders; the kernel state stays (containers keep their network). */
  async close(): Promise<void> {
    await this.serial(async () => {
      await this.stopResponders();
      this.ipSession.close();
      this.nftSession.close();
    });
  }

  /** Removes everything this manager made: endpoints, networks, tables, sysctls back. */
  async destroy(): Promise<void> {
    await this.serial(async () => {
      this.destroying = true;
      for (const ep of Object.values(this.state.endpoints)) await this.removeEndpoint(ep);
      for (const n of Object.values(this.state.networks)) await this.removeNetwork(n);
      if (this.firewall === 'iptables') await deleteIptables(this.table);
      else await deleteTables(this.table);
      await this.stopResponders();
      this.ipSession.close();
      this.nftSession.close();
    });
  }
}
