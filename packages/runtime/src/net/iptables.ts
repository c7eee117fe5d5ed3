// The iptables fallback, for hosts without nft (firewall.ts detects which one works): the same
// NAT and forwarding policy as nft.ts, in chains of Berth's own in the nat and filter tables,
// reached by one jump each from the built-in chains. Rebuilt whole (iptables-restore
// --noflush flushes exactly the chains it declares, and touches no other) on every change: a
// fallback, not the fast path. Not here: anti-spoofing and egress limits (they need the
// bridge family, i.e. nft or ebtables); isolated networks still isolate (bridge port
// isolation is a link setting).
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

/** Berth's chains as iptables-restore input (IPv4; the IPv6 policy needs nft). */
export function renderIptables(state: NetState, opts: FirewallOptions): string {
  const c = iptablesChains(opts.table);
  const nets = Object.values(state.networks).sort((a, b) => a.name.localeCompare(b.name));
  const eps = Object.values(state.endpoints).sort((a, b) => a.containerId.localeCompare(b.containerId));
  const nat: string[] = [];
  for (const ep of eps)
    for (const p of ep.ports) {
      if (p.hostAddress.includes(':')) continue;
      const dst = p.hostAddress === '0.0.0.0' ? '' : `-d ${p.hostAddress} `;
      nat.push(
        `-A ${c.pre} ${dst}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${ep.ip}:${p.containerPort}`,
      );
    }
  const post: string[] = [];
  const fwd: string[] = [];
  const input: string[] = [];
  for (const n of nets) {
    post.push(
      `-A ${c.post} -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`,
      `-A ${c.post} -o ${n.bridge} -s 127.0.0.0/8 -j MASQUERADE`,
      `-A ${c.post} -o ${n.bridge} -s ${n.subnet} -m conntrack --ctstate DNAT -j MASQUERADE`,
    );
    input.push(
      `-A ${c.input} -i ${n.bridge} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-A ${c.input} -i ${n.bridge} -d ${n.gateway} -p udp --dport 53 -j ACCEPT`,
      `-A ${c.input} -i ${n.bridge} -d ${n.gateway} -p tcp --dport 53 -j ACCEPT`,
      `-A ${c.input} -i ${n.bridge} -d ${n.gateway} -p icmp -j ACCEPT`,
      `-A ${c.input} -i ${n.bridge} -j DROP`,
    );
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

/** Rebuilds Berth's chains and makes sure each is jumped to once (idempotent). */
export async function applyIptables(state: NetState, opts: FirewallOptions): Promise<void> {
  await run('iptables-restore', ['-w', '--noflush'], {
    input: renderIptables(state, opts),
    what: 'iptables-restore',
  });
  for (const [table, chain, rule] of jumps(opts.table)) {
    const present = await run('iptables', ['-w', '-t', table, '-C', chain, ...rule], { allowFail: true });
    if (present.code !== 0) await run('iptables', ['-w', '-t', table, '-I', chain, '1', ...rule]);
  }
}

/** Removes the jumps and Berth's chains (only those). */
export async function deleteIptables(table: string): Promise<void> {
  const c = iptablesChains(table);
  for (const [t, chain, rule] of jumps(table)) {
    while ((await run('iptables', ['-w', '-t', t, '-D', chain, ...rule], { allowFail: true })).code === 0);
  }
  for (const [t, chain] of [
    ['nat', c.pre],
    ['nat', c.post],
    ['filter', c.fwd],
    ['filter', c.input],
  ] as const) {
    await run('iptables', ['-w', '-t', t, '-F', chain], { allowFail: true });
    await run('iptables', ['-w', '-t', t, '-X', chain], { allowFail: true });
  }
}
