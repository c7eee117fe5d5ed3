import { describe, expect, it } from 'vitest';
import { ContainerConfig } from './container.ts';
import { NetworkCreate, parseRate } from './network.ts';

describe('network contracts', () => {
  it('accept a network create and name the field at fault otherwise', () => {
    expect(NetworkCreate.parse({ name: 'team-a', subnet: '10.88.0.0/24' })).toMatchObject({
      name: 'team-a',
      isolated: false,
    });
    const field = (input: unknown) => NetworkCreate.safeParse(input).error?.issues[0]?.path.join('.');
    expect(field({ name: 'team-a', subnet: '10.88.0.1/24' })).toBe('subnet');
    expect(field({ name: 'team-a', subnet: '10.88.0.0/31' })).toBe('subnet');
    expect(field({ name: 'team-a', subnet: '10.288.0.0/24' })).toBe('subnet');
    expect(field({ name: 'host', subnet: '10.88.0.0/24' })).toBe('name');
    expect(field({ name: 'Team', subnet: '10.88.0.0/24' })).toBe('name');
    expect(field({ name: 'a', subnet: '10.88.0.0/24', subnet6: 'fd00::/130' })).toBe('subnet6');
    expect(field({ name: 'a', subnet: '10.88.0.0/24', mtu: 100 })).toBe('mtu');
    expect(field({ name: 'a', subnet: '10.88.0.0/24', bogus: 1 })).toBe('');
  });

  it('network modes: none, bridge, host, container:<name> or a network name', () => {
    const mode = (network: string) => ContainerConfig.safeParse({ name: 'c', image: 'busybox', network });
    for (const ok of ['none', 'bridge', 'host', 'container:web', 'team-a', 'berth0'])
      expect(mode(ok).success).toBe(true);
    for (const bad of ['container:', 'container:../x', 'Team', 'a/b', '']) {
      const r = mode(bad);
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['network']);
    }
  });

  it('rates: bits per second with SI suffixes', () => {
    expect(parseRate('800k')).toBe(800_000);
    expect(parseRate('10M')).toBe(10_000_000);
    expect(parseRate('1.5G')).toBe(1_500_000_000);
    expect(parseRate('64000')).toBe(64_000);
    expect(() => parseRate('fast')).toThrow(/800k, 10M or 1G/);
  });
});
