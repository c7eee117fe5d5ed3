// Root: per-container rate limits (tc) and traffic counters.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/net/exec.ts';
import { inNs, spawnInNs, testSubnet, useHarness } from './harness.ts';

describe('rate limits and counters (root)', () => {
  const harness = useHarness();

  const limits = async (firewall: 'nft' | 'iptables') => {
    const h = harness();
    if (firewall === 'iptables') await h.useIptables();
    const m = await h.manager({ firewall });
    const n = await m.createNetwork({ name: `rl-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const [a, b] = [await h.netns(), await h.netns()];
    const rate = 8_000_000; // 8 Mbit/s = 1 MB/s
    const ea = await m.attach({
      containerId: `a-${h.id}`,
      network: n.name,
      netns: { path: a.path },
      hostname: 'a',
      rateLimit: { ingressBps: rate, egressBps: rate },
    });
    const eb = await m.attach({
      containerId: `b-${h.id}`,
      network: n.name,
      netns: { path: b.path },
      hostname: 'b',
    });
    const qdiscs = JSON.parse((await run('tc', ['-j', 'qdisc', 'show', 'dev', ea.hostIf])).stdout) as Array<{
      kind: string;
    }>;
    expect(qdiscs.map((q) => q.kind)).toContain('tbf');

    // 3 MB each way through busybox nc: at 1 MB/s about 3 s; unshaped, well under one here.
    // Asserting more than 1.5 s leaves room for a slow machine (slower only makes it longer).
    const transfer = async (from: typeof a, to: typeof a, toIp: string, port: number): Promise<number> => {
      const sink = spawnInNs(h, to, ['busybox', 'nc', '-l', '-p', String(port)]);
      let received = 0;
      sink.stdout!.on('data', (d: Buffer) => {
        received += d.length;
      });
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      const sent = await inNs(from, [
        'sh',
        '-c',
        `head -c 3000000 /dev/zero | busybox nc -w 10 ${toIp} ${port}`,
      ]);
      // 'close', not 'exit': the last chunk may still be in the pipe when the exit is reported.
      await new Promise<void>((r) => (sink.stdout!.readableEnded ? r() : sink.once('close', () => r())));
      expect(sent.code).toBe(0);
      expect(received).toBe(3_000_000);
      return (performance.now() - t0) / 1000;
    };
    expect(await transfer(b, a, ea.ip, 5001)).toBeGreaterThan(1.5); // into a: tbf
    expect(await transfer(a, b, eb.ip, 5002)).toBeGreaterThan(1.5); // out of a: nft limit, or ifb shaper

    const stats = await m.stats(ea.containerId);
    expect(stats.rxBytes).toBeGreaterThan(3_000_000);
    expect(stats.rxBytes).toBeLessThan(4_000_000);
    // What a sent counts before the policer's drops (TCP resends them): at least the 3 MB.
    expect(stats.txBytes).toBeGreaterThan(3_000_000);

    // Detach removes the limit object (nft) or the ifb device (iptables) with the rest.
    const ifbs = async () =>
      JSON.parse((await run('ip', ['-j', 'link', 'show', 'type', 'ifb'])).stdout) as Array<{
        ifname: string;
      }>;
    const mine = (await ifbs()).filter((l) => l.ifname.startsWith(`${m.hostIfPrefix}i`));
    expect(mine.length).toBe(firewall === 'iptables' ? 1 : 0);
    await m.detach(ea.containerId);
    if (firewall === 'nft')
      expect((await run('nft', ['list', 'table', 'bridge', h.table])).stdout).not.toContain(
        `lim_${ea.hostIf}`,
      );
    expect((await ifbs()).filter((l) => l.ifname.startsWith(`${m.hostIfPrefix}i`))).toEqual([]);
  };

  it('shapes what a container receives and polices what it sends', () => limits('nft'));
  it('with the iptables fallback: the same limits, what it sends shaped through an ifb device', () =>
    limits('iptables'));
});
