// Root: a container that takes another's IP or MAC gets nothing through the bridge; the drops
// are Berth's (its anti-spoofing counters move), and putting its own identity back restores it.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/net/exec.ts';
import { inNs, ping, testSubnet, useHarness } from './harness.ts';

async function spoofDrops(table: string): Promise<number> {
  const r = await run('nft', ['-j', 'list', 'chain', 'bridge', table, 'prerouting']);
  let packets = 0;
  for (const item of JSON.parse(r.stdout).nftables as Array<{
    rule?: { expr: Array<{ counter?: { packets: number } }> };
  }>)
    for (const e of item.rule?.expr ?? []) packets += e.counter?.packets ?? 0;
  return packets;
}

describe('anti-spoofing (root)', () => {
  const harness = useHarness();

  it("drops frames carrying another container's IP or MAC", async () => {
    const h = harness();
    const m = await h.manager();
    const n = await m.createNetwork({ name: `s-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const [[a, ea], [b, eb], [c, ec]] = await h.attached(m, n.name, ['a', 'b', 'c']);
    const len = ea.prefixLength;
    expect(await ping(a, ec.ip)).toBe(true);

    // IP spoofing: a takes b's address (b is still there).
    const ip = (args: string[]) => inNs(a, ['ip', ...args]);
    await ip(['addr', 'flush', 'dev', 'eth0']);
    await ip(['addr', 'add', `${eb.ip}/${len}`, 'dev', 'eth0']);
    await inNs(c, ['ip', 'neigh', 'flush', 'all']);
    let drops = await spoofDrops(h.table);
    expect(await ping(a, ec.ip)).toBe(false);
    expect(await spoofDrops(h.table)).toBeGreaterThan(drops);
    // ...or a made-up address in the subnet.
    const made = ec.ip.replace(/\d+$/, '200');
    await ip(['addr', 'flush', 'dev', 'eth0']);
    await ip(['addr', 'add', `${made}/${len}`, 'dev', 'eth0']);
    drops = await spoofDrops(h.table);
    expect(await ping(a, ec.ip)).toBe(false);
    expect(await spoofDrops(h.table)).toBeGreaterThan(drops);

    // Its own address back: through again.
    await ip(['addr', 'flush', 'dev', 'eth0']);
    await ip(['addr', 'add', `${ea.ip}/${len}`, 'dev', 'eth0']);
    await ip(['route', 'replace', 'default', 'via', n.gateway, 'dev', 'eth0']);
    expect(await ping(a, ec.ip)).toBe(true);

    // MAC spoofing: b's MAC, own IP.
    await ip(['link', 'set', 'eth0', 'address', eb.mac]);
    await inNs(c, ['ip', 'neigh', 'flush', 'all']);
    drops = await spoofDrops(h.table);
    expect(await ping(a, ec.ip)).toBe(false);
    expect(await spoofDrops(h.table)).toBeGreaterThan(drops);
    await ip(['link', 'set', 'eth0', 'address', ea.mac]);
    expect(await ping(a, ec.ip)).toBe(true);
    // b was never disturbed.
    expect(await ping(b, ec.ip)).toBe(true);
  });
});
