import { describe, expect, it } from 'vitest';
import type { NetError } from './errors.ts';
import { allocate } from './ipam.ts';
import { type EndpointRecord, emptyState, type NetState } from './state.ts';
import { testNetwork } from './testing.ts';

const lease = (state: NetState, id: string, ip: string): void => {
  state.endpoints[id] = { containerId: id, network: 'n', ip } as EndpointRecord;
};

describe('IPAM', () => {
  it('hands out addresses after the gateway, round from a cursor, never one in use', () => {
    const state = emptyState();
    const net = testNetwork('n', 'bn', '10.9.0.0/29'); // hosts .1-.6, gateway .1
    state.networks.n = net;
    let cursor = 1n;
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = allocate(state, net, cursor);
      cursor = r.cursor;
      got.push(r.lease.ip);
      lease(state, `c${i}`, r.lease.ip);
    }
    expect(got).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(() => allocate(state, net, cursor)).toThrow(/no free address/);
    // Released .3 comes back only when the cursor wraps round to it.
    delete state.endpoints.c1;
    expect(allocate(state, net, cursor).lease.ip).toBe('10.9.0.3');
  });

  it('never hands the same address to two holders over random leases and releases', () => {
    const state = emptyState();
    const net = testNetwork('n', 'bn', '10.9.0.0/26');
    let cursor = 1n;
    let seq = 0;
    for (let step = 0; step < 2000; step++) {
      const held = Object.keys(state.endpoints);
      if (held.length > 0 && (Math.random() < 0.45 || held.length >= 61)) {
        delete state.endpoints[held[Math.floor(Math.random() * held.length)]!];
      } else {
        const r = allocate(state, net, cursor);
        cursor = r.cursor;
        lease(state, `c${seq++}`, r.lease.ip);
      }
      const ips = Object.values(state.endpoints).map((e) => e.ip);
      expect(new Set(ips).size).toBe(ips.length);
      expect(ips).not.toContain(net.gateway);
    }
  });

  it('gives the IPv6 address at the same offset, and checks a requested address', () => {
    const state = emptyState();
    const net = testNetwork('n', 'bn', '10.9.0.0/24', { subnet6: 'fd00:9::/64', gateway6: 'fd00:9::1' });
    expect(allocate(state, net, 1n).lease).toEqual({ ip: '10.9.0.2', ip6: 'fd00:9::2' });
    expect(allocate(state, net, 1n, '10.9.0.77').lease.ip).toBe('10.9.0.77');
    lease(state, 'x', '10.9.0.77');
    const refuse = (ip: string): NetError => {
      try {
        allocate(state, net, 1n, ip);
      } catch (e) {
        return e as NetError;
      }
      throw new Error('accepted');
    };
    expect(refuse('10.9.0.77')).toMatchObject({ code: 'conflict', field: 'ip' });
    expect(refuse('10.9.0.1')).toMatchObject({ code: 'conflict', field: 'ip' });
    expect(refuse('10.9.1.5')).toMatchObject({ code: 'invalid_argument', field: 'ip' });
    expect(refuse('10.9.0.255')).toMatchObject({ code: 'invalid_argument', field: 'ip' });
  });
});
