// Root: the agent stops and starts again (a new NetworkManager on the same state file):
// containers keep their network while it is down, and it comes back to the same firewall,
// leases and names — and clears what a crash in the middle of an attach left behind.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/net/exec.ts';
import { detectFirewall } from '../../src/net/firewall.ts';
import { inNs, linkNames, nftTable, ping, testSubnet, useHarness } from './harness.ts';

describe('agent restart (root)', () => {
  const harness = useHarness();

  it('keeps containers connected while the agent is away and restores everything from the state', async () => {
    const h = harness();
    const m1 = await h.manager();
    const n = await m1.createNetwork({ name: `r-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const [a, b, c] = [await h.netns(), await h.netns(), await h.netns()];
    const ea = await m1.attach({
      containerId: `a-${h.id}`,
      network: n.name,
      netns: { path: a.path },
      hostname: 'a',
    });
    const eb = await m1.attach({
      containerId: `b-${h.id}`,
      network: n.name,
      netns: { path: b.path },
      hostname: 'b',
    });
    const strip = (t?: string) => t?.replace(/counter packets \d+ bytes \d+/g, 'counter');
    const tables = async () => [
      strip(await nftTable('inet', h.table)),
      strip(await nftTable('bridge', h.table)),
    ];
    const before = await tables();

    await m1.close(); // the agent goes away; the kernel state stays
    expect(await ping(a, eb.ip)).toBe(true);
    // A crash in the middle of an attach left a host end with Berth's prefix and no lease.
    const stray = `${h.managers[0]!.hostIfPrefix}stray0`;
    await run('ip', ['link', 'add', stray, 'type', 'veth', 'peer', 'name', `${stray}p`]);
    h.defer(() => run('ip', ['link', 'del', stray], { allowFail: true }));

    expect(await detectFirewall()).toBe('nft');
    const m2 = await h.manager();
    expect(await tables()).toEqual(before);
    expect((await linkNames()).includes(stray)).toBe(false);
    expect(m2.getEndpoint(ea.containerId)?.ip).toBe(ea.ip);
    expect(await ping(a, eb.ip)).toBe(true);
    expect((await inNs(a, ['busybox', 'nslookup', 'b', n.gateway])).stdout).toContain(eb.ip);
    // IPAM carries on from the state: a new container gets an address nobody holds.
    const ec = await m2.attach({
      containerId: `c-${h.id}`,
      network: n.name,
      netns: { path: c.path },
      hostname: 'c',
    });
    expect([ea.ip, eb.ip, n.gateway]).not.toContain(ec.ip);
    expect(await ping(c, ea.ip)).toBe(true);
  });
});
