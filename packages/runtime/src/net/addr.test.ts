import { describe, expect, it } from 'vitest';
import {
  contains,
  lastUsableOffset,
  macBytes,
  macFor,
  nth,
  offsetOf,
  overlaps,
  parsePrefix,
  randomUla,
} from './addr.ts';
import { linkLocalFor } from './nft.ts';

describe('address prefixes', () => {
  it('parses IPv4 and IPv6 prefixes and refuses host bits', () => {
    expect(parsePrefix('10.87.0.0/16')).toEqual({ family: 4, network: '10.87.0.0', length: 16 });
    expect(parsePrefix('fd00:1::/64')).toEqual({ family: 6, network: 'fd00:1::', length: 64 });
    expect(() => parsePrefix('10.87.0.1/16')).toThrow(/host bits/);
    expect(() => parsePrefix('10.87.0.0')).toThrow(/not an address prefix/);
    expect(() => parsePrefix('banana/3')).toThrow();
  });

  it('computes containment, overlap and offsets', () => {
    const p = parsePrefix('10.87.0.0/16');
    expect(contains(p, '10.87.255.254')).toBe(true);
    expect(contains(p, '10.88.0.1')).toBe(false);
    expect(contains(p, 'fd00::1')).toBe(false);
    expect(overlaps(p, parsePrefix('10.87.3.0/24'))).toBe(true);
    expect(overlaps(p, parsePrefix('10.0.0.0/8'))).toBe(true);
    expect(overlaps(p, parsePrefix('10.86.0.0/16'))).toBe(false);
    expect(nth(p, 258n)).toBe('10.87.1.2');
    expect(offsetOf(p, '10.87.1.2')).toBe(258n);
    expect(lastUsableOffset(parsePrefix('10.0.0.0/30'))).toBe(2n);
    expect(lastUsableOffset(parsePrefix('fd00::/126'))).toBe(3n);
    expect(nth(parsePrefix('fd00:1::/64'), 258n)).toBe('fd00:1::102');
  });

  it('derives MACs from addresses and link-local addresses from MACs (EUI-64)', () => {
    expect(macFor('10.87.0.2')).toBe('02:b7:0a:57:00:02');
    // The kernel gave fe80::b7:aff:fe63:2 to 02:b7:0a:63:00:02 (measured with ip addr).
    expect(linkLocalFor('02:b7:0a:63:00:02')).toBe('fe80::b7:aff:fe63:2');
  });

  it('parses a MAC into its six bytes, and refuses anything else', () => {
    expect([...macBytes('02:b7:0a:57:00:02')]).toEqual([0x02, 0xb7, 0x0a, 0x57, 0x00, 0x02]);
    expect([...macBytes('FF:fe:00:Aa:10:01')]).toEqual([0xff, 0xfe, 0x00, 0xaa, 0x10, 0x01]);
    for (const bad of [
      '',
      '02:b7:0a:57:00',
      '02:b7:0a:57:00:02:03',
      '2:b7:0a:57:00:02',
      '02:b7:0a:57:00:0g',
      '02-b7-0a-57-00-02',
      '02:b7:0a:57:00:02 ',
      '0x2:b7:0a:57:00:02',
    ])
      expect(() => macBytes(bad), bad).toThrow(`not a MAC address: ${bad}`);
  });

  it('makes random ULA /64 prefixes under fd00::/8', () => {
    const p = parsePrefix(randomUla(() => Buffer.from([1, 2, 3, 4, 5])));
    expect(p).toEqual({ family: 6, network: 'fd01:203:405::', length: 64 });
  });
});
