// The firewall as a pure function of NetState: Berth's own `inet` and `bridge` tables,
// rendered whole and applied in one `nft -f` transaction that first deletes only those two
// tables (so applying twice gives the same ruleset, and nothing Berth did not create is ever
// touched). Why two families: NAT, forwarding and host input need the inet hooks; anti-spoofing
// must see frames between two ports of the same bridge, which never reach the IP layer unless
// br_netfilter is loaded, so it lives in the bridge family, per port.
import { familyOf } from './addr.ts';
import { run } from './exec.ts';
import type { EndpointRecord, NetState, NetworkRecord, PortForward } from './state.ts';

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
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const h = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  return `fe80::${h(b[0]! ^ 2, b[1]!)}:${h(b[2]!, 0xff)}:${h(0xfe, b[3]!)}:${h(b[4]!, b[5]!)}`;
}

function dnatRules(ep: EndpointRecord): string[] {
  return ep.ports.map((p: PortForward) => {
    const fam = familyOf(p.hostAddress) === 6 ? 'ip6' : 'ip';
    const any = p.hostAddress === '0.0.0.0' || p.hostAddress === '::';
    const match = any ? 'fib daddr type local' : `${fam} daddr ${p.hostAddress}`;
    const target = fam === 'ip6' ? `[${ep.ip6}]:${p.containerPort}` : `${ep.ip}:${p.containerPort}`;
    if (fam === 'ip6' && !ep.ip6) return `# ${p.protocol}/${p.hostPort}: no IPv6 address`;
    return `${fam === 'ip6' ? 'meta nfproto ipv6' : 'meta nfproto ipv4'} ${match} ${p.protocol} dport ${p.hostPort} dnat ${fam} to ${target}`;
  });
}

function portGuard(ep: EndpointRecord, net: NetworkRecord | undefined): string[] {
  const i = `iifname ${q(ep.hostIf)}`;
  const rules = [
    `${i} ether saddr != ${ep.mac} counter drop`,
    `${i} ether type != { ip, arp, ip6 } counter drop`,
    `${i} ether type arp arp saddr ether != ${ep.mac} counter drop`,
    `${i} ether type arp arp saddr ip != ${ep.ip} counter drop`,
    `${i} ether type ip ip saddr != ${ep.ip} counter drop`,
  ];
  if (net?.subnet6 && ep.ip6) {
    rules.push(`${i} ether type ip6 ip6 saddr != ${set(['::', linkLocalFor(ep.mac), ep.ip6])} counter drop`);
  } else {
    rules.push(`${i} ether type ip6 counter drop`);
  }
  return rules;
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
  const dnat = eps.flatMap(dnatRules);

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
    chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', dnat),
    chain('output', 'type nat hook output priority -100; policy accept;', dnat),
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', post),
    chain('input', 'type filter hook input priority filter; policy accept;', input),
    chain('forward', 'type filter hook forward priority filter; policy accept;', forward),
    '}',
  );
  const netOf = (name: string) => state.networks[name];
  const guards = eps.flatMap((ep) => portGuard(ep, netOf(ep.network)));
  // A port with Berth's prefix that the state does not know (yet, or any more) forwards
  // nothing, so a link may come up before its rules land. (By name prefix: `meta ibrname`
  // needs nft_meta_bridge, which not every kernel has.)
  const ports = eps.map((ep) => q(ep.hostIf));
  const ours = `iifname ${q(`${opts.hostIfPrefix}*`)}`;
  guards.push(ports.length > 0 ? `${ours} iifname != ${set(ports)} counter drop` : `${ours} counter drop`);
  out.push(
    `table bridge ${t} {`,
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
