import { describe, expect, it } from 'vitest';
import {
  blkioWeightToIoWeight,
  hugepageDirToPageSize,
  pageSizeBytes,
  parseCpuList,
  sharesToWeight,
} from './convert.ts';

describe('v1 ↔ v2 units', () => {
  it('shares → weight maps the ends and the defaults onto each other, monotonically', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(100);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(512)).toBe(59);
    expect(sharesToWeight(2048)).toBe(174);
    let last = 0;
    for (let s = 2; s <= 262144; s = Math.ceil(s * 1.1)) {
      const w = sharesToWeight(s);
      expect(w).toBeGreaterThanOrEqual(last);
      expect(w).toBeGreaterThanOrEqual(1);
      expect(w).toBeLessThanOrEqual(10000);
      last = w;
    }
  });

  it('blkio weight → io.weight is linear from 10..1000 to 1..10000', () => {
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(1000)).toBe(10000);
    expect(blkioWeightToIoWeight(500)).toBe(4950);
  });

  it('parses CPU lists and huge page sizes', () => {
    expect([...parseCpuList('f', '0-2,5,7-8')]).toEqual([0, 1, 2, 5, 7, 8]);
    expect(() => parseCpuList('cpu.cpus', '1-x')).toThrow(/cpu.cpus: "1-x" is not a list/);
    expect(pageSizeBytes('p', '2MB')).toBe(2 << 20);
    expect(pageSizeBytes('p', '1GB')).toBe(1 << 30);
    expect(hugepageDirToPageSize('hugepages-2048kB')).toBe('2MB');
    expect(hugepageDirToPageSize('hugepages-1048576kB')).toBe('1GB');
    expect(hugepageDirToPageSize('hugepages-64kB')).toBe('64KB');
  });
});
