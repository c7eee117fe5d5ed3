import { describe, expect, it } from 'vitest';
import { renderEndpointChange, renderRuleset } from './nft.ts';
import { type EndpointRecord, emptyState } from './state.ts';
import { testNetwork } from './testing.ts';

const opts = { table: 'berth', hostIfPrefix: 'vb' };

describe('nftables ruleset', () => {
  it('with no network, only removes its own tables', () => {
    const text = renderRuleset(emptyState(), opts);
    expect(text).toContain('delete table inet berth');
    expect(text).toContain('delete table bridge berth');
    expect(text).not.toMatch(/flush ruleset|hook/);
  });

  it('renders NAT, forwards, isolation and per-port anti-spoofing from the state, deterministically', () => {
    const s = emptyState();
    s.networks.a = testNetwork('a', 'berth0', '10.87.0.0/16');
    s.networks.b = testNetwork('b', 'bb', '10.88.0.0/24', { isolated: true });
    s.endpoints.c1 = {
      containerId: 'c1',
      network: 'a',
      hostIf: 'vb1',
      ip: '10.87.0.2',
      mac: '02:b7:0a:57:00:02',
      hostname: 'one',
      aliases: [],
      ports: [
        { protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 8080, containerPort: 80 },
        { protocol: 'udp', hostAddress: '127.0.0.1', hostPort: 5353, containerPort: 53 },
      ],
      createdAt: '',
    } satisfies EndpointRecord;
    const text = renderRuleset(s, opts);
    expect(text).toContain('elements = { tcp . 8080 : 10.87.0.2 . 80 }');
    expect(text).toContain('elements = { 127.0.0.1 . udp . 5353 : 10.87.0.2 . 53 }');
    expect(text).toContain('fib daddr type local dnat ip to meta l4proto . th dport map @pf4_any');
    expect(text).toContain('ip saddr 10.87.0.0/16 oifname != "berth0" masquerade');
    expect(text).toContain('oifname "berth0" ip saddr 127.0.0.0/8 masquerade');
    expect(text).toContain('iifname "berth0" oifname "berth0" accept');
    expect(text).not.toContain('iifname "bb" oifname "bb" accept');
    expect(text).toContain('iifname { "berth0", "bb" } oifname { "berth0", "bb" } counter drop');
    expect(text).toContain('elements = { "vb1" . 02:b7:0a:57:00:02 }');
    expect(text).toContain('elements = { "vb1" . 10.87.0.2 }');
    expect(text).toContain('elements = { "vb1" . ::, "vb1" . fe80::b7:aff:fe57:2 }');
    expect(text).toContain('iifname "vb*" iifname . ether saddr != @port_mac counter drop');
    expect(text).toContain('iifname "vb*" ether type ip iifname . ip saddr != @port_ip4 counter drop');
    expect(text).toContain('iifname "vb*" ether type arp iifname . arp saddr ip != @port_ip4 counter drop');
    // Host services are closed to containers except DNS on the gateway.
    expect(text).toContain('iifname "berth0" ip daddr 10.87.0.1 udp dport 53 accept');
    expect(text).toContain('iifname { "berth0", "bb" } counter drop');
    expect(renderRuleset(structuredClone(s), opts)).toBe(text);
    // Attaching or detaching one container changes only elements, in one transaction.
    const change = renderEndpointChange(s.endpoints.c1!, 'delete', opts);
    expect(change.trim().split('\n')).toEqual([
      'delete element inet berth pf4_any { tcp . 8080 : 10.87.0.2 . 80 }',
      'delete element inet berth pf4_addr { 127.0.0.1 . udp . 5353 : 10.87.0.2 . 53 }',
      'delete element bridge berth port_mac { "vb1" . 02:b7:0a:57:00:02 }',
      'delete element bridge berth port_ip4 { "vb1" . 10.87.0.2 }',
      'delete element bridge berth port_ip6 { "vb1" . ::, "vb1" . fe80::b7:aff:fe57:2 }',
    ]);
  });
});
