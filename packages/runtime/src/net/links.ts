// Links and addresses through iproute2 (`ip -batch`, `ip -json`), except the container's own
// end, which is made from inside its namespace over rtnetlink in-process (rtnl.ts: setns of
// this thread for the moment it takes to open a netlink socket), the per-container step that
// a process start would otherwise dominate. Why not a netlink library: the one npm package
// (`netlink`, a native addon) is unmaintained; `ip` speaks every link type for the rest.
import { readFile, writeFile } from 'node:fs/promises';
import { macFor, parsePrefix } from './addr.ts';
import { NetError } from './errors.ts';
import { run } from './exec.ts';
import { configureContainerSide } from './rtnl.ts';
import type { NetworkRecord } from './state.ts';

export type NetnsRef = { pid: number } | { path: string };

export const netnsPath = (ns: NetnsRef): string => ('pid' in ns ? `/proc/${ns.pid}/ns/net` : ns.path);

/** `ip ARGS` in a namespace: a named one (/run/netns/NAME) with `ip -n`, any other through
 * nsenter (one exec more). */
function ipIn(netns: string | undefined, args: string[]): [string, string[]] {
  if (!netns) return ['ip', args];
  const named = /^\/run\/netns\/([^/]+)$/.exec(netns);
  if (named) return ['ip', ['-n', named[1]!, ...args]];
  return ['nsenter', [`--net=${netns}`, '--', 'ip', ...args]];
}

/** Runs `ip -batch -` in the host's namespace, or in `netns`. */
export async function ipBatch(lines: string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const input = `${lines.join('\n')}\n`;
  await run(...ipIn(netns, ['-batch', '-']), { input, what: netns ? `ip (in ${netns})` : 'ip' });
}

export async function ipJson<T>(args: string[], netns?: string): Promise<T> {
  const r = await run(...ipIn(netns, ['-json', ...args]), { what: `ip ${args.join(' ')}` });
  const text = r.stdout.trim();
  return (text ? JSON.parse(text) : []) as T;
}

interface IpLink {
  ifname: string;
  mtu: number;
  address?: string;
  operstate?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}
interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  return (await linkInfo(name, netns)) !== undefined;
}

export async function linkInfo(name: string, netns?: string): Promise<IpLink | undefined> {
  try {
    const links = await ipJson<IpLink[]>(['-details', 'link', 'show', 'dev', name], netns);
    return links[0];
  } catch (e) {
    if (e instanceof NetError && /does not exist|Cannot find device/.test(e.message)) return undefined;
    throw e;
  }
}

/** Names of the links of one kind (veth, ifb, ...) in the host's namespace. */
export async function linkNamesOfType(kind: string): Promise<string[]> {
  const links = await ipJson<IpLink[]>(['-details', 'link', 'show', 'type', kind]);
  return links.map((l) => l.ifname);
}

export const vethNames = (): Promise<string[]> => linkNamesOfType('veth');

/** MTU of the host's uplink: the device of the IPv4 default route (1500 without one). */
export async function uplinkMtu(): Promise<number> {
  const routes = await ipJson<IpRoute[]>(['-4', 'route', 'show', 'default']);
  const dev = routes.find((r) => r.dev)?.dev;
  if (!dev) return 1500;
  return (await linkInfo(dev))?.mtu ?? 1500;
}

/** The host's routed prefixes (main table), except those on `ignoreDevs` (Berth's bridges). */
export async function hostPrefixes(ignoreDevs: string[]): Promise<Array<{ prefix: string; dev: string }>> {
  const out: Array<{ prefix: string; dev: string }> = [];
  for (const fam of ['-4', '-6']) {
    for (const r of await ipJson<IpRoute[]>([fam, 'route', 'show'])) {
      if (r.dst === 'default' || !r.dev || ignoreDevs.includes(r.dev)) continue;
      const prefix = r.dst.includes('/') ? r.dst : `${r.dst}/${fam === '-4' ? 32 : 128}`;
      if (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:') || r.dst.startsWith('multicast')) continue;
      out.push({ prefix, dev: r.dev });
    }
  }
  return out;
}

export type BridgeSpec = Pick<
  NetworkRecord,
  'bridge' | 'subnet' | 'gateway' | 'subnet6' | 'gateway6' | 'mtu'
>;

/** Creates the bridge if missing and (re)applies its addresses; idempotent. The bridge's MAC
 * is fixed (derived from the gateway address): otherwise a bridge takes the lowest MAC of its
 * ports and the gateway's MAC would change under the containers as they come and go. */
export async function ensureBridge(b: BridgeSpec): Promise<void> {
  const len = parsePrefix(b.subnet).length;
  const existing = await linkInfo(b.bridge);
  if (existing && existing.linkinfo?.info_kind !== 'bridge')
    throw new NetError(
      'conflict',
      `bridge: a non-bridge link named ${b.bridge} exists on the host`,
      'bridge',
    );
  const lines: string[] = [];
  if (!existing) {
    lines.push(`link add name ${b.bridge} address ${macFor(b.gateway)} mtu ${b.mtu} type bridge stp_state 0`);
  }
  lines.push(`addr replace ${b.gateway}/${len} dev ${b.bridge}`);
  if (b.subnet6 && b.gateway6) {
    lines.push(`addr replace ${b.gateway6}/${parsePrefix(b.subnet6).length} dev ${b.bridge} nodad`);
  }
  lines.push(`link set ${b.bridge} up`);
  await ipBatch(lines);
  // Published ports must answer on 127.0.0.1: DNAT from loopback to the bridge needs the
  // bridge to route 127/8 sources (they are masqueraded on the way out).
  await writeFile(`/proc/sys/net/ipv4/conf/${b.bridge}/route_localnet`, '1');
}

export interface VethSpec {
  hostIf: string;
  bridge: string;
  netns: string;
  mtu: number;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  ip6?: string;
  prefixLength6?: number;
  gateway6?: string;
  isolated: boolean;
}

/** Run inside the container's namespace: the veth pair is created from there with eth0 in
 * place and its peer sent straight to the host's namespace (`hostNetns`), then eth0 gets its
 * addresses and the default route. One process for everything inside. */
export function containerSideLines(v: VethSpec, hostNetns: string): string[] {
  const lines = [
    `link add eth0 mtu ${v.mtu} address ${v.mac} type veth peer name ${v.hostIf} mtu ${v.mtu} netns ${hostNetns}`,
    'link set lo up',
    `addr add ${v.ip}/${v.prefixLength} dev eth0`,
  ];
  if (v.ip6) lines.push(`addr add ${v.ip6}/${v.prefixLength6} dev eth0 nodad`);
  lines.push('link set eth0 up', `route add default via ${v.gateway} dev eth0`);
  if (v.ip6 && v.gateway6) lines.push(`route add default via ${v.gateway6} dev eth0`);
  return lines;
}

/** Then on the host: the host end onto the bridge, and up (the container end has no carrier
 * until then, so nothing flows before this). */
export function hostSideLines(v: VethSpec): string[] {
  const lines = [`link set ${v.hostIf} master ${v.bridge}`];
  if (v.isolated) lines.push(`link set ${v.hostIf} type bridge_slave isolated on`);
  lines.push(`link set ${v.hostIf} up`);
  return lines;
}

/** Where host-side `ip` commands go: a persistent session, or one process per call. */
export type HostIp = (lines: string[]) => Promise<void>;

/** Creates and configures the pair from inside the container's namespace (the host end is
 * left down and off the bridge): over rtnetlink from this process (rtnl.ts, no process
 * started), or, where that is not possible (`viaIp`, or no FFI), with one `ip -batch`. */
export async function createVeth(v: VethSpec, opts: { viaIp?: boolean } = {}): Promise<void> {
  if (!opts.viaIp) {
    try {
      configureContainerSide(v);
      return;
    } catch (e) {
      // The kernel refused: that is the answer (ip would be refused the same way).
      if (e instanceof NetError) throw e;
      // No FFI here (koffi cannot load, setns refused): the tool works everywhere.
      await removeLink(v.hostIf).catch(() => {});
    }
  }
  await ipBatch(containerSideLines(v, `/proc/${process.pid}/ns/net`), v.netns);
}

/** Puts the host end on the bridge and up: from here the address is in use. */
export async function plugHostEnd(v: VethSpec, hostIp: HostIp = (l) => ipBatch(l)): Promise<void> {
  await hostIp(hostSideLines(v));
}

/** Deletes a link if it exists (a veth's peer goes with it). */
export async function removeLink(name: string, hostIp: HostIp = (l) => ipBatch(l)): Promise<void> {
  try {
    await hostIp([`link del ${name}`]);
  } catch (e) {
    if (e instanceof NetError && /Cannot find device|does not exist/.test(e.message)) return;
    throw e;
  }
}

export interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Counters of a host-side link as the *container* sees them (host tx is container rx). */
export async function containerCounters(hostIf: string): Promise<LinkCounters> {
  const read = async (f: string): Promise<number> =>
    Number((await readFile(`/sys/class/net/${hostIf}/statistics/${f}`, 'utf8')).trim());
  try {
    const [tb, tp, rb, rp] = await Promise.all(
      ['tx_bytes', 'tx_packets', 'rx_bytes', 'rx_packets'].map(read),
    );
    return { rxBytes: tb!, rxPackets: tp!, txBytes: rb!, txPackets: rp! };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new NetError('not_found', `link ${hostIf} does not exist`);
    throw e;
  }
}
