// Links and addresses through iproute2 (`ip -batch`, `ip -json`). Why not a netlink library:
// the one npm package (`netlink`, a native addon) is unmaintained, and configuring a link
// inside a container's namespace needs setns on the calling thread, which a Node process
// cannot do safely. `ip` is on every host, speaks every link type, and one batch per
// namespace costs about one process start (measured in bench/net.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { macFor, parsePrefix } from './addr.ts';
import { NetError } from './errors.ts';
import { run } from './exec.ts';
import type { NetworkRecord } from './state.ts';

export type NetnsRef = { pid: number } | { path: string };

export const netnsPath = (ns: NetnsRef): string => ('pid' in ns ? `/proc/${ns.pid}/ns/net` : ns.path);

/** Runs `ip -batch -` in the host's namespace, or in `netns` through nsenter. */
export async function ipBatch(lines: string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const input = `${lines.join('\n')}\n`;
  if (netns)
    await run('nsenter', [`--net=${netns}`, '--', 'ip', '-batch', '-'], { input, what: `ip (in ${netns})` });
  else await run('ip', ['-batch', '-'], { input, what: 'ip' });
}

export async function ipJson<T>(args: string[], netns?: string): Promise<T> {
  const r = netns
    ? await run('nsenter', [`--net=${netns}`, '--', 'ip', '-json', ...args], { what: `ip ${args.join(' ')}` })
    : await run('ip', ['-json', ...args], { what: `ip ${args.join(' ')}` });
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

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await ipBatch([`link del ${name}`]);
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

/** Host side: the veth pair with its container end created straight inside the container's
 * namespace as eth0, the host end on the bridge. */
export function hostSideLines(v: VethSpec): string[] {
  const lines = [
    `link add ${v.hostIf} mtu ${v.mtu} type veth peer name eth0 mtu ${v.mtu} address ${v.mac} netns ${v.netns}`,
    `link set ${v.hostIf} master ${v.bridge}`,
  ];
  if (v.isolated) lines.push(`link set ${v.hostIf} type bridge_slave isolated on`);
  lines.push(`link set ${v.hostIf} up`);
  return lines;
}

/** Container side, run inside its namespace. */
export function containerSideLines(v: VethSpec): string[] {
  const lines = ['link set lo up', `addr add ${v.ip}/${v.prefixLength} dev eth0`];
  if (v.ip6) lines.push(`addr add ${v.ip6}/${v.prefixLength6} dev eth0 nodad`);
  lines.push('link set eth0 up', `route add default via ${v.gateway} dev eth0`);
  if (v.ip6 && v.gateway6) lines.push(`route add default via ${v.gateway6} dev eth0`);
  return lines;
}

export async function attachVeth(v: VethSpec): Promise<void> {
  await ipBatch(hostSideLines(v));
  try {
    await ipBatch(containerSideLines(v), v.netns);
  } catch (e) {
    await deleteLink(v.hostIf).catch(() => {});
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
