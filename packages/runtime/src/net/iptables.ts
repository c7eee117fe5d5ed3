// The iptables fallback, for hosts without nft (firewall.ts detects which one works): the same
// NAT and forwarding policy as nft.ts, in chains of Berth's own in the nat and filter tables of
// iptables and ip6tables, reached by one jump each from the built-in chains. Rebuilt whole
// (iptables-restore --noflush flushes exactly the chains it declares, and touches no other) on
// every change: a fallback, not the fast path. Anti-spoofing, which nft does in its bridge
// family, is a tc classifier on each container's host end here (spoof.ts); isolated networks
// isolate the same way (bridge port isolation is a link setting).
import { createHash } from 'node:crypto';
import { run } from './exec.ts';
import type { FirewallOptions } from './nft.ts';
import type { NetState } from './state.ts';

/** Berth's chain names for `table` (at most 28 characters, as iptables wants). */
export function iptablesChains(table: string): { pre: string; post: string; fwd: string; input: string } {
  const tag =
    table === 'berth' ? 'BERTH' : `BERTH-${createHash('sha256').update(table).digest('hex').slice(0, 8)}`;
  return { pre: `${tag}-PRE`, post: `${tag}-POST`, fwd: `${tag}-FWD`, input: `${tag}-IN` };
}

/** The jumps from the built-in chains: [table, chain, rule]. */
function jumps(table: string): Array<[string, string, string[]]> {
  const c = iptablesChains(table);
  return [
    ['nat', 'PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.pre]],
    ['nat', 'OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.pre]],
    ['nat', 'POSTROUTING', ['-j', c.post]],
    ['filter', 'FORWARD', ['-j', c.fwd]],
    ['filter', 'INPUT', ['-j', c.input]],
  ];
}

/** Berth's chains as iptables-restore (family 4) or ip6tables-restore (family 6) input. Every
 * network gets the IPv6 filter rules, with or without an IPv6 subnet: its containers have
 * link-local addresses, and the host's input must stay closed to them there too. */
export function renderIptables(state: NetState, opts: FirewallOptions, family: 4 | 6 = 4): string {
  const c = iptablesChains(opts.table);
  const v6 = family === 6;
  const nets = Object.values(state.networks).sort((a, b) => a.name.localeCompare(b.name));
  const eps = Object.values(state.endpoints).sort((a, b) => a.containerId.localeCompare(b.containerId));
  const nat: string[] = [];
  for (const ep of eps)
    for (const p of ep.ports) {
      if (p.hostAddress.includes(':') !== v6) continue;
      const target = v6 ? ep.ip6 && `[${ep.ip6}]:${p.containerPort}` : `${ep.ip}:${p.containerPort}`;
      if (!target) continue;
      const dst = p.hostAddress === '0.0.0.0' || p.hostAddress === '::' ? '' : `-d ${p.hostAddress} `;
      nat.push(
        `-A ${c.pre} ${dst}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${target}`,
      );
    }
  const post: string[] = [];
  const fwd: string[] = [];
  const input: string[] = [];
  for (const n of nets) {
    const subnet = v6 ? n.subnet6 : n.subnet;
    const gateway = v6 ? n.gateway6 : n.gateway;
    if (subnet) {
      post.push(
        `-A ${c.post} -s ${subnet} ! -o ${n.bridge} -j MASQUERADE`,
        `-A ${c.post} -o ${n.bridge} -s ${subnet} -m conntrack --ctstate DNAT -j MASQUERADE`,
      );
    }
    if (!v6) post.push(`-A ${c.post} -o ${n.bridge} -s 127.0.0.0/8 -j MASQUERADE`);
    input.push(`-A ${c.input} -i ${n.bridge} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
    if (gateway) {
      const to = v6 ? `${gateway},fe80::/64` : gateway;
      input.push(
        `-A ${c.input} -i ${n.bridge} -d ${to} -p udp --dport 53 -j ACCEPT`,
        `-A ${c.input} -i ${n.bridge} -d ${to} -p tcp --dport 53 -j ACCEPT`,
      );
    }
    if (!v6) input.push(`-A ${c.input} -i ${n.bridge} -d ${n.gateway} -p icmp -j ACCEPT`);
    else {
      const types = gateway
        ? [
            'echo-request',
            'destination-unreachable',
            'packet-too-big',
            'time-exceeded',
            'router-solicitation',
            'neighbour-solicitation',
            'neighbour-advertisement',
          ]
        : ['neighbour-solicitation', 'neighbour-advertisement'];
      for (const t of types)
        input.push(`-A ${c.input} -i ${n.bridge} -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`);
    }
    input.push(`-A ${c.input} -i ${n.bridge} -j DROP`);
    fwd.push(
      `-A ${c.fwd} -o ${n.bridge} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-A ${c.fwd} -i ${n.bridge} -m conntrack --ctstate INVALID -j DROP`,
      `-A ${c.fwd} -o ${n.bridge} -m conntrack --ctstate DNAT -j ACCEPT`,
    );
    if (!n.isolated) fwd.push(`-A ${c.fwd} -i ${n.bridge} -o ${n.bridge} -j ACCEPT`);
  }
  // Between networks (and into one from outside): dropped; out of one: accepted.
  for (const n of nets) fwd.push(`-A ${c.fwd} -o ${n.bridge} -j DROP`);
  for (const n of nets) fwd.push(`-A ${c.fwd} -i ${n.bridge} -j ACCEPT`);
  return [
    '*nat',
    `:${c.pre} - [0:0]`,
    `:${c.post} - [0:0]`,
    ...nat,
    ...post,
    'COMMIT',
    '*filter',
    `:${c.fwd} - [0:0]`,
    `:${c.input} - [0:0]`,
    ...fwd,
    ...input,
    'COMMIT',
    '',
  ].join('\n');
}

const tools = {
  4: { restore: 'iptables-restore', cmd: 'iptables' },
  6: { restore: 'ip6tables-restore', cmd: 'ip6tables' },
} as const;

/**
 * Rebuilds Berth's chains and, unless `ensureJumps` is false, makes sure each is jumped to once
 * (idempotent). The jumps depend on the table's name only: a container's attach or detach
 * rebuilds the chains and leaves them be (--noflush keeps the built-in chains as they are).
 */
export async function applyIptables(
  state: NetState,
  opts: FirewallOptions,
  ensureJumps = true,
): Promise<void> {
  for (const family of [4, 6] as const) {
    const t = tools[family];
    await run(t.restore, ['-w', '--noflush'], {
      input: renderIptables(state, opts, family),
      what: t.restore,
    });
    if (!ensureJumps) continue;
    for (const [table, chain, rule] of jumps(opts.table)) {
      const present = await run(t.cmd, ['-w', '-t', table, '-C', chain, ...rule], { allowFail: true });
      if (present.code !== 0) await run(t.cmd, ['-w', '-t', table, '-I', chain, '1', ...rule]);
    }
  }
}

/** Removes the jumps and Berth's chains (only those). */
export async function deleteIptables(table: string): Promise<void> {
  const c = iptablesChains(table);
  for (const { cmd } of Object.values(tools)) {
    for (const [t, chain, rule] of jumps(table)) {
      while ((await run(cmd, ['-w', '-t', t, '-D', chain, ...rule], { allowFail: true })).code === 0);
    }
    for (const [t, chain] of [
      ['nat', c.pre],
      ['nat', c.post],
      ['filter', c.fwd],
      ['filter', c.input],
    ] as const) {
      await run(cmd, ['-w', '-t', t, '-F', chain], { allowFail: true });
      await run(cmd, ['-w', '-t', t, '-X', chain], { allowFail: true });
    }
  }
}
