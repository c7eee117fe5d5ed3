// Optional per-container rate limit on what a container receives: a tbf root qdisc on the host
// end of its veth (what leaves the host end enters the container). What it sends is policed
// by an nft limit in Berth's bridge table (nft.ts): tc's police action is not in every kernel.
import { run } from './exec.ts';
import type { RateLimit } from './state.ts';

const burstBytes = (bps: number): number => Math.max(16 * 1024, Math.ceil(bps / 8 / 50));

export function rateLimitLines(hostIf: string, limit: RateLimit): string[] {
  if (!limit.ingressBps) return [];
  return [
    `qdisc replace dev ${hostIf} root tbf rate ${limit.ingressBps}bit burst ${burstBytes(limit.ingressBps)} latency 50ms`,
  ];
}

/** One `tc -batch` process for a host end's qdiscs and filters (nothing to do: no process). */
export async function tcBatch(hostIf: string, lines: string[]): Promise<void> {
  if (lines.length)
    await run('tc', ['-batch', '-'], { input: `${lines.join('\n')}\n`, what: `tc (${hostIf})` });
}
