// Root: a network with an IPv6 (ULA) prefix besides its IPv4 one.
import { describe, expect, it } from 'vitest';
import { parsePrefix } from '../../src/net/addr.ts';
import { inNs, testSubnet, useHarness } from './harness.ts';

describe('IPv6 (root)', () => {
  const harness = useHarness();

  it('gives containers a ULA address and route, names in AAAA, and neighbours over IPv6', async () => {
    const h = harness();
    const m = await h.manager();
    const n = await m.createNetwork({
      name: `v6-${h.id}`,
      bridge: h.bridge(),
      subnet: testSubnet(),
      subnet6: 'auto',
    });
    expect(parsePrefix(n.subnet6!)).toMatchObject({ family: 6, length: 64 });
    expect(n.subnet6!.startsWith('fd')).toBe(true);
    const [[a, ea], [b, eb]] = await h.attached(m, n.name, ['a', 'b']);
    expect(ea.ip6).toBeDefined();
    expect((await inNs(a, ['ip', '-6', 'route', 'show', 'default'])).stdout).toContain(`via ${n.gateway6}`);
    const ping6 = async (ns: typeof a, to: string) =>
      (await inNs(ns, ['busybox', 'ping6', '-c', '1', '-W', '2', to])).code === 0;
    expect(await ping6(a, eb.ip6!)).toBe(true);
    expect(await ping6(b, n.gateway6!)).toBe(true);
    const aaaa = await inNs(a, ['busybox', 'nslookup', '-type=AAAA', 'b', n.gateway]);
    expect(aaaa.stdout).toContain(eb.ip6!);
    // The network's DNS answers on its IPv6 gateway too, which resolv.conf names after the IPv4 one.
    const over6 = await inNs(a, ['busybox', 'nslookup', '-type=AAAA', 'b', n.gateway6!]);
    expect(over6.stdout).toContain(eb.ip6!);
    expect(ea.files.resolvConf).toMatch(new RegExp(`nameserver ${n.gateway}\\nnameserver ${n.gateway6}\\n`));
    expect(eb.files.hosts).toContain(`${eb.ip6}\tb.${n.domain} b`);
  });
});
