// Optional per-container rate limit on what a container receives: a tbf root qdisc on the host
// end of its veth (what leaves the host end enters the container). What it sends is policed
// by an nft limit in Berth's bridge table (nft.ts): tc's police action is not in every kernel.
// With the iptables fallback (no bridge family) what it sends is shaped instead: the host
// end's ingress is redirected (mirred, a u32 match-all) to an ifb device of its own with a tbf
// root qdisc, the usual way to shape ingress without the police action.
import { run } from './exec.ts';
import type { RateLimit } from './state.ts';

const burstBytes = (bps: number): number => Math.max(16 * 1024, Math.ceil(bps / 8 / 50));

const tbf = (dev: string, bps: number): string =>
  `qdisc replace dev ${dev} root tbf rate ${bps}bit burst ${burstBytes(bps)} latency 50ms`;

export function rateLimitLines(hostIf: string, limit: RateLimit): string[] {
  return limit.ingressBps ? [tbf(hostIf, limit.ingressBps)] : [];
}

/** What the container sends, shaped through `ifb` (which exists and is up); after the
 * anti-spoofing guard (pref 1), so only what it lets through is redirected. */
export function egressShaperLines(hostIf: string, ifb: string, bps: number): string[] {
  return [
    `qdisc replace dev ${hostIf} clsact`,
    `filter add dev ${hostIf} ingress pref 2 protocol all u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
    tbf(ifb, bps),
  ];
}

/** One `tc -batch` process for a host end's qdiscs and filters (nothing to do: no process). */
export async function tcBatch(hostIf: string, lines: string[]): Promise<void> {
  if (lines.length)
    await run('tc', ['-batch', '-'], { input: `${lines.join('\n')}\n`, what: `tc (${hostIf})` });
}
