// Optional per-container rate limits with tc on the host end of the veth: what the container
// receives leaves the host end (a tbf root qdisc shapes it), what it sends enters the host end
// (an ingress policer drops the excess — ingress cannot queue).
import { run } from './exec.ts';
import type { RateLimit } from './state.ts';

const burstBytes = (bps: number): number => Math.max(16 * 1024, Math.ceil(bps / 8 / 50));

export function rateLimitLines(hostIf: string, limit: RateLimit): string[] {
  const lines: string[] = [];
  if (limit.ingressBps) {
    lines.push(
      `qdisc replace dev ${hostIf} root tbf rate ${limit.ingressBps}bit burst ${burstBytes(limit.ingressBps)} latency 50ms`,
    );
  }
  if (limit.egressBps) {
    lines.push(
      `qdisc replace dev ${hostIf} handle ffff: ingress`,
      `filter replace dev ${hostIf} parent ffff: protocol all prio 1 matchall action police rate ${limit.egressBps}bit burst ${burstBytes(limit.egressBps)} conform-exceed drop`,
    );
  }
  return lines;
}

export async function applyRateLimit(hostIf: string, limit: RateLimit): Promise<void> {
  const lines = rateLimitLines(hostIf, limit);
  if (lines.length)
    await run('tc', ['-batch', '-'], { input: `${lines.join('\n')}\n`, what: `tc (${hostIf})` });
}
