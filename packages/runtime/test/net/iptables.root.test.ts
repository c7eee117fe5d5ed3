// Root: the iptables fallback, forced (this host has nft, which `auto` prefers): masquerade,
// published ports from the host's loopback and hairpin, containers on one network reach each
// other and not across networks; only Berth's own chains (and one jump each) are touched, and
// all of it goes at destroy. iptables here is iptables-nft: it keeps its rules in the `ip nat`
// and `ip filter` nft tables, which the test removes after if it made them and they are empty.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/net/exec.ts';
import { iptablesChains } from '../../src/net/iptables.ts';
import { freePort, httpGet, ping, testSubnet, useHarness } from './harness.ts';

const save = async (table: string): Promise<string> =>
  (await run('iptables-save', ['-t', table], { allowFail: true })).stdout;
const nftTableExists = async (family: string, name: string): Promise<boolean> =>
  (await run('nft', ['list', 'table', family, name], { allowFail: true })).code === 0;

describe('iptables fallback (root)', () => {
  const harness = useHarness();

  it('masquerades, forwards published ports, keeps networks apart, and leaves nothing', async () => {
    const h = harness();
    const hadTables = {
      nat: await nftTableExists('ip', 'nat'),
      filter: await nftTableExists('ip', 'filter'),
    };
    const chains = iptablesChains(h.table);
    // Whatever happens: our chains and jumps go; iptables-nft's tables too if we made them
    // and nobody has put a rule in them.
    h.defer(async () => {
      const { deleteIptables } = await import('../../src/net/iptables.ts');
      await deleteIptables(h.table);
      for (const t of ['nat', 'filter'] as const) {
        if (hadTables[t]) continue;
        if (
          !(await save(t))
            .split('\n')
            .some((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:[A-Z]+ ACCEPT/.test(l)))
        )
          await run('nft', ['delete', 'table', 'ip', t], { allowFail: true });
      }
    });
    const m = await h.manager({ firewall: 'iptables' });
    expect(m.firewall).toBe('iptables');
    const n1 = await m.createNetwork({ name: `i1-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
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

    // A container's rules go with it.
    await m.detach(ew.containerId);
    expect(await save('nat')).not.toContain(`${ew.ip}:8080`);
    expect(await httpGet(undefined, '127.0.0.1', hp)).toBeUndefined();

    await m.destroy();
    for (const t of ['nat', 'filter']) {
      const text = await save(t);
      for (const c of Object.values(chains)) expect(text).not.toContain(c);
    }
  });
});
