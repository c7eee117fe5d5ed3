import { describe, expect, it } from 'vitest';
import { iptablesChains, renderIptables } from './iptables.ts';
import { emptyState, type NetState } from './state.ts';

const opts = { table: 'berth_test_some_long_table_name_x', hostIfPrefix: 'vb' };

function state(isolated: boolean): NetState {
  const s = emptyState();
  s.networks.n = {
    name: 'n',
    bridge: 'br-n',
    subnet: '10.9.0.0/24',
    gateway: '10.9.0.1',
    mtu: 1500,
    isolated,
    domain: 'berth.internal',
    ipamCursor: '2',
    createdAt: '',
  };
  s.endpoints.c = {
    containerId: 'c',
    network: 'n',
    hostIf: 'vb1',
    ip: '10.9.0.2',
    mac: '02:42:0a:09:00:02',
    hostname: 'c',
    aliases: [],
    ports: [
      { protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 8080, containerPort: 80 },
      { protocol: 'udp', hostAddress: '127.0.0.1', hostPort: 5353, containerPort: 53 },
    ],
    createdAt: '',
  };
  return s;
}

describe('iptables fallback rules', () => {
  it("names Berth's chains within iptables' 28 characters, distinct per table", () => {
    const c = iptablesChains(opts.table);
    for (const name of Object.values(c)) expect(name.length).toBeLessThanOrEqual(28);
    expect(iptablesChains('berth').pre).toBe('BERTH-PRE');
    expect(iptablesChains('other').pre).not.toBe(c.pre);
  });

  it('declares only its own chains, with DNAT per published port, masquerade, and isolation', () => {
    const text = renderIptables(state(false), opts);
    const c = iptablesChains(opts.table);
    expect(text.split('\n').filter((l) => l.startsWith(':'))).toEqual([
      `:${c.pre} - [0:0]`,
      `:${c.post} - [0:0]`,
      `:${c.fwd} - [0:0]`,
      `:${c.input} - [0:0]`,
    ]);
    expect(text).toContain(`-A ${c.pre} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.9.0.2:80`);
    expect(text).toContain(
      `-A ${c.pre} -d 127.0.0.1 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.9.0.2:53`,
    );
    expect(text).toContain(`-A ${c.post} -s 10.9.0.0/24 ! -o br-n -j MASQUERADE`);
    expect(text).toContain(`-A ${c.fwd} -i br-n -o br-n -j ACCEPT`);
    expect(renderIptables(state(true), opts)).not.toContain('-i br-n -o br-n -j ACCEPT');
  });

  it('puts IPv6 into ip6tables: masquerade and DNAT for the IPv6 subnet, the host closed on every network', () => {
    const s = state(false);
    s.networks.n!.subnet6 = 'fd00:9::/64';
    s.networks.n!.gateway6 = 'fd00:9::1';
    s.endpoints.c!.ip6 = 'fd00:9::2';
    s.endpoints.c!.ports.push({ protocol: 'tcp', hostAddress: '::', hostPort: 8443, containerPort: 443 });
    const c = iptablesChains(opts.table);
    const v6 = renderIptables(s, opts, 6);
    expect(v6).toContain(`-A ${c.post} -s fd00:9::/64 ! -o br-n -j MASQUERADE`);
    expect(v6).toContain(`-A ${c.pre} -p tcp -m tcp --dport 8443 -j DNAT --to-destination [fd00:9::2]:443`);
    expect(v6).not.toContain('10.9.0.2');
    expect(v6).toContain(`-A ${c.input} -i br-n -j DROP`);
    expect(renderIptables(s, opts, 4)).not.toContain('fd00:9');
    // A network without an IPv6 subnet: only neighbour discovery reaches the host over IPv6.
    const plain = renderIptables(state(false), opts, 6);
    expect(plain).not.toContain('MASQUERADE');
    expect(plain).toContain('--icmpv6-type neighbour-solicitation -j ACCEPT');
    expect(plain).not.toContain('echo-request');
    expect(plain).toContain(`-A ${c.input} -i br-n -j DROP`);
  });
});
