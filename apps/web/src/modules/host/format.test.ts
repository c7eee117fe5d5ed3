import { describe, expect, it } from 'vitest';
import { formatBytes, formatUptime, memoryUsed } from './format.ts';

describe('dashboard formatting', () => {
  it('writes bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(24 * 1024 ** 3)).toBe('24.0 GiB');
    expect(formatBytes(200 * 1024 ** 2)).toBe('200 MiB');
  });

  it('writes uptime in days, hours and minutes', () => {
    expect(formatUptime(42.7)).toBe('42s');
    expect(formatUptime(61)).toBe('1m');
    expect(formatUptime(3 * 3600 + 5 * 60)).toBe('3h 5m');
    expect(formatUptime(86_400 + 2 * 3600 + 3 * 60)).toBe('1d 2h 3m');
    expect(formatUptime(86_400 + 60)).toBe('1d 0h 1m');
  });

  it('computes the share of memory in use, clamped', () => {
    expect(memoryUsed({ totalBytes: 1000, availableBytes: 250 })).toBe(0.75);
    expect(memoryUsed({ totalBytes: 0, availableBytes: 0 })).toBe(0);
    expect(memoryUsed({ totalBytes: 100, availableBytes: 200 })).toBe(0);
  });
});
