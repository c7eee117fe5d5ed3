// Root: the iptables fallback, forced (this host has nft, which `auto` prefers): masquerade,
// published ports from the host's loopback and hairpin, containers on one network reach each
// other and not across networks; only Berth's own chains (and one jump each) are touched, and
// all of it goes at destroy. iptables here is iptables-nft: it keeps its rules in the `ip nat`
// and `ip filter` nft tables, which the test removes after if it made them and they are empty.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/net/exec.ts';
import { iptablesChains } from '../../src/net/iptables.ts';
import { freePort, httpGet, inNs, ping, testSubnet, useHarness } from './harness.ts';

const save = async (table: string): Promise<string> =>
  (await run('iptables-save', ['-t', table], { allowFail: true })).stdout;
const save6 = async (table: string): Promise<string> =>
  (await run('ip6tables-save', ['-t', table], { allowFail: true })).stdout;
/** Frames the anti-spoofing guard on a host end dropped (its clsact qdisc's drop counter). */
const guardDrops = async (hostIf: string): Promise<number> => {
  const r = await run('tc', ['-s', '-j', 'qdisc', 'show', 'dev', hostIf]);
  const q = (JSON.parse(r.stdout) as Array<{ kind: string; drops?: number }>).find(
    (x) => x.kind === 'clsact',
  );
  if (!q) throw new Error(`no clsact qdisc on ${hostIf}`);
  return q.drops ?? 0;
};
const nftTableExists = async (family: string, name: string): Promise<boolean> =>
  (await run('nft', ['list', 'table', family, name], { allowFail: true })).code === 0;

describe('iptables fallback (root)', () => {
  const harness = useHarness();

  it('masquerades, forwards published ports, keeps networks apart, and leaves nothing', async () => {
    const h = harness();
    const chains = iptablesChains(h.table);
    await h.useIptables();
    const m = await h.manager({ firewall: 'iptables' });
    expect(m.firewall).toBe('iptables');
    const n1 = await m.createNetwork({
      name: `i1-${h.id}`,
      bridge: h.bridge(),
      subnet: testSubnet(),
      subnet6: 'auto',
    });
    let s2 = testSubnet();
    while (s2 === n1.subnet) s2 = testSubnet();
    const n2 = await m.createNetwork({ name: `i2-${h.id}`, bridge: h.bridge(), subnet: s2 });
    const [web, client, other] = [await h.netns(), await h.netns(), await h.netns()];
    const hp = await freePort();
    const ew = await m.attach({
      containerId: `w-${h.id}`,
      network: n1.name,
      netns: { path: web.path },
      hostname: 'web',
      ports: [{ hostAddress: '127.0.0.1', hostPort: hp, containerPort: 8080 }],
    });
    await m.attach({
      containerId: `c-${h.id}`,
      network: n1.name,
      netns: { path: client.path },
      hostname: 'c',
    });
    await m.attach({
      containerId: `o-${h.id}`,
      network: n2.name,
      netns: { path: other.path },
      hostname: 'o',
    });
    await h.httpd(web, 8080, 'via-iptables');

    const nat = await save('nat');
    expect(nat).toContain(`-A ${chains.post} -s ${n1.subnet} ! -o ${n1.bridge} -j MASQUERADE`);
    expect(nat).toContain(`--to-destination ${ew.ip}:8080`);
    expect(nat).toContain(`-A POSTROUTING -j ${chains.post}`);
    // No nft table of Berth's: the fallback really is in use.
    expect(await nftTableExists('inet', h.table)).toBe(false);

    expect(await httpGet(undefined, '127.0.0.1', hp)).toBe('via-iptables');
    expect(await httpGet(client, ew.ip, 8080)).toBe('via-iptables');
    expect(await httpGet(client, n1.gateway, hp)).toBeUndefined(); // published on 127.0.0.1 only
    expect(await ping(other, ew.ip)).toBe(false);
    expect(await httpGet(other, ew.ip, 8080)).toBeUndefined();

    // IPv6 goes into ip6tables: the same chains, for the network's IPv6 subnet.
    const nat6 = await save6('nat');
    expect(nat6).toContain(`-A POSTROUTING -j ${chains.post}`);
    expect(await save6('filter')).toContain(`-A ${chains.input} -i ${n1.bridge} -j DROP`);
    const ping6 = async (ns: typeof web, to: string) =>
      (await inNs(ns, ['busybox', 'ping6', '-c', '1', '-W', '2', to])).code === 0;
    expect(ew.ip6).toBeDefined();
    expect(await ping6(client, ew.ip6!)).toBe(true);
    expect(await ping6(client, n1.gateway6!)).toBe(true);

    // Anti-spoofing without nft's bridge family: the guard on the host end drops what the
    // client sends with another container's IP, or with another MAC (its drop counter moves).
    const ec = m.getEndpoint(`c-${h.id}`)!;
    const len = ew.prefixLength;
    const ip = (args: string[]) => inNs(client, ['ip', ...args]);
    /** The client with another MAC is dropped by the guard; with its own MAC back, through again
     * (so the check can fail). */
    const spoofedMacDropped = async () => {
      await ip(['link', 'set', 'eth0', 'address', '02:42:de:ad:be:ef']);
      const drops = await guardDrops(ec.hostIf);
      expect(await ping(client, ew.ip)).toBe(false);
      expect(await guardDrops(ec.hostIf)).toBeGreaterThan(drops);
      await ip(['link', 'set', 'eth0', 'address', ec.mac]);
      await inNs(web, ['ip', 'neigh', 'flush', 'all']);
      expect(await ping(client, ew.ip)).toBe(true);
    };
    expect(await ping(client, ew.ip)).toBe(true);
    await ip(['addr', 'flush', 'dev', 'eth0']);
    await ip(['addr', 'add', `${n1.gateway.replace(/\d+$/, '200')}/${len}`, 'dev', 'eth0']);
    const drops = await guardDrops(ec.hostIf);
    expect(await ping(client, ew.ip)).toBe(false);
    expect(await httpGet(client, ew.ip, 8080)).toBeUndefined();
    expect(await guardDrops(ec.hostIf)).toBeGreaterThan(drops);
    await ip(['addr', 'flush', 'dev', 'eth0']);
    await ip(['addr', 'add', `${ec.ip}/${len}`, 'dev', 'eth0']);
    await spoofedMacDropped();
    // Its own identity back: HTTP through again too (so the checks above can fail).
    expect(await httpGet(client, ew.ip, 8080)).toBe('via-iptables');

    // The agent restarts after someone removed a guard: the new manager puts it back.
    await m.close();
    await run('tc', ['qdisc', 'del', 'dev', ec.hostIf, 'clsact']);
    const m2 = await h.manager({ firewall: 'iptables' });
    await spoofedMacDropped();

    // A container's rules go with it.
    await m2.detach(ew.containerId);
    expect(await save('nat')).not.toContain(`${ew.ip}:8080`);
    expect(await httpGet(undefined, '127.0.0.1', hp)).toBeUndefined();

    await m2.destroy();
    for (const t of ['nat', 'filter']) {
      const text = `${await save(t)}${await save6(t)}`;
      for (const c of Object.values(chains)) expect(text).not.toContain(c);
    }
  });
});
