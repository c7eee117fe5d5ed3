// Root: real bridges, veth pairs and nftables tables, with network namespaces as containers.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readSysctl } from '../../src/net/sysctl.ts';
import { httpGet, inNs, linkNames, nftTable, ping, testSubnet, useHarness } from './harness.ts';

describe('bridge networks (root)', () => {
  const harness = useHarness();

  it('connects two containers on one network, by address and by name, and tears down to nothing', async () => {
    const h = harness();
    const forwardBefore = await readSysctl('net/ipv4/ip_forward');
    const m = await h.manager();
    const net = await m.createNetwork({ name: `t-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    expect((await linkNames()).includes(net.bridge)).toBe(true);
    // Routing on for the bridge only (the harness's manager uses forwarding: 'bridges').
    expect(await readSysctl(`net/ipv4/conf/${net.bridge}/forwarding`)).toBe('1');
    expect(await readSysctl('net/ipv4/ip_forward')).toBe(forwardBefore);

    const a = await h.netns();
    const b = await h.netns();
    const ea = await m.attach({
      containerId: `a-${h.id}`,
      network: net.name,
      netns: { path: a.path },
      hostname: 'alpha',
    });
    const eb = await m.attach({
      containerId: `b-${h.id}`,
      network: net.name,
      netns: { path: b.path },
      hostname: 'bravo',
      aliases: ['web'],
    });
    expect(ea.ip).not.toBe(eb.ip);
    expect(ea.files.resolvConf).toContain(`nameserver ${net.gateway}`);
    expect(eb.files.hosts).toContain(`${eb.ip}\tbravo.${net.domain} bravo web`);

    // eth0 inside, with the address, the MAC and the default route via the gateway.
    const addr = JSON.parse((await inNs(a, ['ip', '-json', 'addr', 'show', 'eth0'])).stdout);
    expect(addr[0].address).toBe(ea.mac);
    expect(addr[0].mtu).toBe(net.mtu);
    expect(addr[0].addr_info.some((x: { local: string }) => x.local === ea.ip)).toBe(true);
    const routes = (await inNs(a, ['ip', 'route', 'show', 'default'])).stdout;
    expect(routes).toContain(`default via ${net.gateway} dev eth0`);

    expect(await ping(a, eb.ip)).toBe(true);
    expect(await ping(b, ea.ip)).toBe(true);
    expect(await ping(a, net.gateway)).toBe(true);
    await h.httpd(b, 8080, 'hello from bravo');
    expect(await httpGet(a, eb.ip, 8080)).toBe('hello from bravo');

    // By name through the network's responder, using the resolv.conf Berth wrote.
    await h.etcFiles(a, { 'resolv.conf': ea.files.resolvConf, hosts: ea.files.hosts });
    const ns = await inNs(a, ['busybox', 'nslookup', 'web']);
    expect(ns.stdout).toContain(eb.ip);
    const fq = await inNs(a, ['busybox', 'nslookup', `bravo.${net.domain}`, net.gateway]);
    expect(fq.stdout).toContain(eb.ip);
    const missing = await inNs(a, ['busybox', 'nslookup', `nobody.${net.domain}`, net.gateway]);
    expect(missing.stdout + missing.stderr).toMatch(/NXDOMAIN|can't find/);
    expect(await httpGet(a, 'web', 8080)).toBe('hello from bravo');

    const stats = await m.stats(ea.containerId);
    expect(stats.txPackets).toBeGreaterThan(0);
    expect(stats.rxBytes).toBeGreaterThan(0);

    // Teardown: no veth, no rule naming it, no lease.
    await m.detach(ea.containerId);
    expect((await linkNames()).includes(ea.hostIf)).toBe(false);
    expect(await nftTable('bridge', h.table)).not.toContain(ea.hostIf);
    expect(JSON.parse(await readFile(h.storePath(), 'utf8')).endpoints[ea.containerId]).toBeUndefined();
    await m.detach(eb.containerId);
    await m.deleteNetwork(net.name);
    expect((await linkNames()).includes(net.bridge)).toBe(false);
    expect(await readSysctl('net/ipv4/ip_forward')).toBe(forwardBefore);
    const state = JSON.parse(await readFile(h.storePath(), 'utf8'));
    expect(state).toMatchObject({ networks: {}, endpoints: {} });
    expect(state.savedSysctls ?? {}).toEqual({});
  });

  it('keeps networks apart, and an isolated network lets containers reach only the gateway', async () => {
    const h = harness();
    const m = await h.manager();
    const n1 = await m.createNetwork({ name: `one-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    let n2Subnet = testSubnet();
    while (n2Subnet === n1.subnet) n2Subnet = testSubnet();
    const n2 = await m.createNetwork({
      name: `two-${h.id}`,
      bridge: h.bridge(),
      subnet: n2Subnet,
      isolated: true,
    });
    const [a, b, c] = [await h.netns(), await h.netns(), await h.netns()];
    const ea = await m.attach({
      containerId: `a-${h.id}`,
      network: n1.name,
      netns: { path: a.path },
      hostname: 'a',
    });
    const eb = await m.attach({
      containerId: `b-${h.id}`,
      network: n2.name,
      netns: { path: b.path },
      hostname: 'b',
    });
    const ec = await m.attach({
      containerId: `c-${h.id}`,
      network: n2.name,
      netns: { path: c.path },
      hostname: 'c',
    });
    await h.httpd(b, 8080, 'b');

    // Across networks: nothing, although routing (ip_forward) is on.
    expect(await ping(a, n1.gateway)).toBe(true);
    expect(await ping(a, eb.ip)).toBe(false);
    expect(await httpGet(a, eb.ip, 8080)).toBeUndefined();
    expect(await ping(b, ea.ip)).toBe(false);
    // Isolated: the gateway (and its DNS) yes, the neighbour no.
    expect(await ping(c, n2.gateway)).toBe(true);
    expect(await ping(c, eb.ip)).toBe(false);
    expect(await httpGet(c, eb.ip, 8080)).toBeUndefined();
    expect((await inNs(c, ['busybox', 'nslookup', 'b', n2.gateway])).stdout).toContain(eb.ip);
    // The host reaches the containers on both (it is the gateway).
    expect(await httpGet(undefined, eb.ip, 8080)).toBe('b');
    expect(ec.ip).not.toBe(eb.ip);
  });

  it('rebuilds its nftables tables idempotently and touches no other table', async () => {
    const h = harness();
    const other = `berth_test_other_${h.id}`;
    const { run } = await import('../../src/net/exec.ts');
    await run('nft', ['-f', '-'], {
      input: `table inet ${other} {\n chain c {\n  tcp dport 9 counter accept\n }\n}\n`,
    });
    h.defer(() => run('nft', ['delete', 'table', 'inet', other], { allowFail: true }));
    const before = await nftTable('inet', other);

    const m = await h.manager();
    const net = await m.createNetwork({ name: `r-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const a = await h.netns();
    await m.attach({
      containerId: `a-${h.id}`,
      network: net.name,
      netns: { path: a.path },
      hostname: 'a',
      ports: [{ hostPort: 30000 + Math.floor(Math.random() * 20000), containerPort: 80 }],
    });
    await m.rebuildFirewall();
    // Counters count live traffic (e.g. IPv6 router solicitations): compare without them.
    const rules = async () =>
      [await nftTable('inet', h.table), await nftTable('bridge', h.table)].map((t) =>
        t?.replace(/counter packets \d+ bytes \d+/g, 'counter'),
      );
    const once = await rules();
    await m.rebuildFirewall();
    const twice = await rules();
    expect(twice).toEqual(once);
    expect(once[0]).toContain('masquerade');
    expect(once[1]).toContain('ether saddr !=');
    expect(await nftTable('inet', other)).toBe(before);

    await m.destroy();
    expect(await nftTable('inet', h.table)).toBeUndefined();
    expect(await nftTable('bridge', h.table)).toBeUndefined();
    expect(await nftTable('inet', other)).toBe(before);
  });
});
