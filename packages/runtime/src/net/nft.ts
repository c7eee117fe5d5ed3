// The firewall as a pure function of NetState: Berth's own `inet` and `bridge` tables,
// rendered whole and applied in one `nft -f` transaction that first deletes only those two
// tables (so applying twice gives the same ruleset, and nothing Berth did not create is ever
// touched). Why two families: NAT, forwarding and host input need the inet hooks; anti-spoofing
// must see frames between two ports of the same bridge, which never reach the IP layer unless
// br_netfilter is loaded, so it lives in the bridge family, per port.
import { familyOf, macBytes } from './addr.ts';
import { run } from './exec.ts';
import type { EndpointRecord, NetState, PortForward } from './state.ts';

export interface FirewallOptions {
  /** Name of Berth's tables (both families); tests use their own. */
  table: string;
  /** Prefix of the host-side veth names this state owns (e.g. "vb"). */
  hostIfPrefix: string;
}

const q = (s: string): string => `"${s}"`;
const set = (xs: string[]): string => `{ ${xs.join(', ')} }`;

/** fe80::/64 address the kernel derives from a MAC (EUI-64, the default addr_gen_mode). */
export function linkLocalFor(mac: string): string {
  const b = macBytes(mac);
  const h = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  return `fe80::${h(b[0]! ^ 2, b[1]!)}:${h(b[2]!, 0xff)}:${h(0xfe, b[3]!)}:${h(b[4]!, b[5]!)}`;
}

// Per-container data lives in sets and maps, so attaching or detaching a container is a
// small element transaction: rebuilding a table re-registers its hooks, which costs the
// kernel a grace period (~30 ms measured here), fine per network but not per container.

const wildcard = (a: string): boolean => a === '0.0.0.0' || a === '::';

interface Elements {
  pf4_any: string[];
  pf4_addr: string[];
  pf6_any: string[];
  pf6_addr: string[];
  port_mac: string[];
  port_ip4: string[];
  port_ip6: string[];
  /** Egress policing: a named limit per rate-limited port, and the port → limit map. */
  port_limit: string[];
}

/** nft `limit` object for a container's egress (what its port sends), if it has one. */
function egressLimit(ep: EndpointRecord): { name: string; spec: string } | undefined {
  const bps = ep.rateLimit?.egressBps;
  if (!bps) return undefined;
  const bytes = Math.max(1, Math.floor(bps / 8));
  const burst = Math.max(16 * 1024, Math.ceil(bytes / 50));
  return { name: `lim_${ep.hostIf}`, spec: `rate over ${bytes} bytes/second burst ${burst} bytes` };
}

const inetSets = ['pf4_any', 'pf4_addr', 'pf6_any', 'pf6_addr'] as const;
const bridgeSets = ['port_mac', 'port_ip4', 'port_ip6', 'port_limit'] as const;

const noElements = (): Elements => ({
  pf4_any: [],
  pf4_addr: [],
  pf6_any: [],
  pf6_addr: [],
  port_mac: [],
  port_ip4: [],
  port_ip6: [],
  port_limit: [],
});

function endpointElements(ep: EndpointRecord): Elements {
  const e = noElements();
  for (const p of ep.ports as PortForward[]) {
    const v6 = familyOf(p.hostAddress) === 6;
    if (v6 && !ep.ip6) continue;
    const target = `${v6 ? ep.ip6 : ep.ip} . ${p.containerPort}`;
    const key = `${p.protocol} . ${p.hostPort}`;
    if (wildcard(p.hostAddress)) e[v6 ? 'pf6_any' : 'pf4_any'].push(`${key} : ${target}`);
    else e[v6 ? 'pf6_addr' : 'pf4_addr'].push(`${p.hostAddress} . ${key} : ${target}`);
  }
  const i = q(ep.hostIf);
  e.port_mac.push(`${i} . ${ep.mac}`);
  e.port_ip4.push(`${i} . ${ep.ip}`);
  e.port_ip6.push(`${i} . ::`, `${i} . ${linkLocalFor(ep.mac)}`);
  if (ep.ip6) e.port_ip6.push(`${i} . ${ep.ip6}`);
  const lim = egressLimit(ep);
  if (lim) e.port_limit.push(`${i} : ${q(lim.name)}`);
  return e;
}

/** The element changes for one container, as one nft transaction. */
export function renderEndpointChange(
  ep: EndpointRecord,
  op: 'add' | 'delete',
  opts: FirewallOptions,
): string {
  const e = endpointElements(ep);
  const lines: string[] = [];
  for (const name of inetSets)
    if (e[name].length) lines.push(`${op} element inet ${opts.table} ${name} ${set(e[name])}`);
  for (const name of bridgeSets)
    if (e[name].length) lines.push(`${op} element bridge ${opts.table} ${name} ${set(e[name])}`);
  // The limit object exists before the map names it, and goes after the map forgets it.
  const lim = egressLimit(ep);
  if (lim && op === 'add') lines.unshift(`add limit bridge ${opts.table} ${lim.name} { ${lim.spec} }`);
  if (lim && op === 'delete') lines.push(`delete limit bridge ${opts.table} ${lim.name}`);
  return `${lines.join('\n')}\n`;
}

export function renderRuleset(state: NetState, opts: FirewallOptions): string {
  const t = opts.table;
  const nets = Object.values(state.networks).sort((a, b) => a.name.localeCompare(b.name));
  const eps = Object.values(state.endpoints).sort((a, b) => a.containerId.localeCompare(b.containerId));
  const out: string[] = [
    `# Berth's firewall, generated from its network state. Only these two tables are Berth's.`,
    `table inet ${t} {}`,
    `delete table inet ${t}`,
    `table bridge ${t} {}`,
    `delete table bridge ${t}`,
  ];
  if (nets.length === 0) return `${out.join('\n')}\n`;
  const bridges = set(nets.map((n) => q(n.bridge)));
  const all = noElements();
  for (const ep of eps) {
    const e = endpointElements(ep);
    for (const k of Object.keys(all) as Array<keyof Elements>) all[k].push(...e[k]);
  }
  const decl = (kind: 'map' | 'set', name: keyof Elements, type: string): string =>
    [
      `  ${kind} ${name} {`,
      `    type ${type}`,
      ...(all[name].length ? [`    elements = ${set(all[name])}`] : []),
      '  }',
    ].join('\n');

  const dnat = [
    'meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @pf4_any',
    'meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @pf4_addr',
    'meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @pf6_any',
    'meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @pf6_addr',
  ];
  const input: string[] = [
    `iifname ${bridges} ct state established,related accept`,
    `iifname ${bridges} ct state invalid drop`,
  ];
  const forward: string[] = [
    `oifname ${bridges} ct state established,related accept`,
    `iifname ${bridges} ct state invalid drop`,
    // Published ports are public: reachable from anywhere, other networks and hairpin included.
    `oifname ${bridges} ct status dnat accept`,
  ];
  const post: string[] = [];
  for (const n of nets) {
    const b = q(n.bridge);
    input.push(
      `iifname ${b} ip daddr ${n.gateway} udp dport 53 accept`,
      `iifname ${b} ip daddr ${n.gateway} tcp dport 53 accept`,
      `iifname ${b} ip daddr ${n.gateway} icmp type { echo-request, destination-unreachable, time-exceeded } accept`,
    );
    if (n.gateway6) {
      input.push(
        `iifname ${b} ip6 daddr { ${n.gateway6}, fe80::/64 } udp dport 53 accept`,
        `iifname ${b} ip6 daddr { ${n.gateway6}, fe80::/64 } tcp dport 53 accept`,
        `iifname ${b} icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept`,
      );
    } else {
      input.push(`iifname ${b} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept`);
    }
    // Traffic bridged between two ports shows up here as bridge → same bridge when br_netfilter
    // is loaded; routed same-network traffic too. An isolated network allows neither.
    if (!n.isolated) forward.push(`iifname ${b} oifname ${b} accept`);
    post.push(
      `ip saddr ${n.subnet} oifname != ${b} masquerade`,
      `oifname ${b} ip saddr 127.0.0.0/8 masquerade`,
      `oifname ${b} ip saddr ${n.subnet} ct status dnat masquerade`,
    );
    if (n.subnet6) {
      post.push(
        `ip6 saddr ${n.subnet6} oifname != ${b} masquerade`,
        `oifname ${b} ip6 saddr ${n.subnet6} ct status dnat masquerade`,
      );
    }
  }
  // Nothing else from a container reaches the host itself (the agent, the panel, sshd...).
  input.push(`iifname ${bridges} counter drop`);
  forward.push(
    `iifname ${bridges} oifname ${bridges} counter drop`,
    `oifname ${bridges} counter drop`,
    `iifname ${bridges} accept`,
  );

  const chain = (name: string, hook: string, body: string[]): string =>
    [`  chain ${name} {`, `    ${hook}`, ...body.map((r) => `    ${r}`), '  }'].join('\n');

  out.push(
    `table inet ${t} {`,
    decl('map', 'pf4_any', 'inet_proto . inet_service : ipv4_addr . inet_service'),
    decl('map', 'pf4_addr', 'ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service'),
    decl('map', 'pf6_any', 'inet_proto . inet_service : ipv6_addr . inet_service'),
    decl('map', 'pf6_addr', 'ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service'),
    chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', dnat),
    chain('output', 'type nat hook output priority -100; policy accept;', dnat),
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', post),
    chain('input', 'type filter hook input priority filter; policy accept;', input),
    chain('forward', 'type filter hook forward priority filter; policy accept;', forward),
    '}',
  );
  // Anti-spoofing, per port: a frame from a container's port must carry that container's MAC
  // and, for IPv4/ARP/IPv6, its addresses. A port with Berth's prefix that the state does not
  // know (yet, or any more) has no entries and so forwards nothing: a link may come up before
  // its elements land. (Ports are matched by name prefix: `meta ibrname` needs
  // nft_meta_bridge, which not every kernel has.)
  const ours = `iifname ${q(`${opts.hostIfPrefix}*`)}`;
  const guards = [
    `${ours} iifname . ether saddr != @port_mac counter drop`,
    `${ours} ether type != { ip, arp, ip6 } counter drop`,
    `${ours} ether type arp iifname . arp saddr ether != @port_mac counter drop`,
    `${ours} ether type arp iifname . arp saddr ip != @port_ip4 counter drop`,
    `${ours} ether type ip iifname . ip saddr != @port_ip4 counter drop`,
    `${ours} ether type ip6 iifname . ip6 saddr != @port_ip6 counter drop`,
    // Per-container egress limits (ingress is shaped by tc on the host end; tc's policer
    // action is not in every kernel, nft's limit is).
    `${ours} limit name iifname map @port_limit drop`,
  ];
  const limits = eps.flatMap((ep) => {
    const lim = egressLimit(ep);
    return lim ? [`  limit ${lim.name} { ${lim.spec} }`] : [];
  });
  out.push(
    `table bridge ${t} {`,
    ...limits,
    decl('map', 'port_limit', 'ifname : limit'),
    decl('set', 'port_mac', 'ifname . ether_addr'),
    decl('set', 'port_ip4', 'ifname . ipv4_addr'),
    decl('set', 'port_ip6', 'ifname . ipv6_addr'),
    chain('prerouting', 'type filter hook prerouting priority filter; policy accept;', guards),
    '}',
  );
  return `${out.join('\n')}\n`;
}

export async function applyRuleset(text: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: text, what: 'nft -f' });
}

export async function deleteTables(table: string): Promise<void> {
  await applyRuleset(
    `table inet ${table} {}\ndelete table inet ${table}\ntable bridge ${table} {}\ndelete table bridge ${table}\n`,
  );
}

/** `nft -j list ruleset` restricted to one table (for checks and tests). */
export async function listTable(family: 'inet' | 'bridge', table: string): Promise<unknown | undefined> {
  const r = await run('nft', ['-j', 'list', 'table', family, table], { what: 'nft list', allowFail: true });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout);
}
