import { describe, expect, it } from 'vitest';
import { flatKeyedValue, parseNestedKeyed, parsePids, parsePressure, parseSingle } from './parse.ts';

describe('cgroup file parsers', () => {
  it('finds keys in flat-keyed files, first line and later lines, and not by prefix', () => {
    const text = 'cache 10\nrss 20\ntotal_rss 30\nrss_huge 40\n';
    expect(flatKeyedValue(text, 'cache')).toBe(10);
    expect(flatKeyedValue(text, 'rss')).toBe(20);
    expect(flatKeyedValue(text, 'total_rss')).toBe(30);
    expect(flatKeyedValue(text, 'rss_huge')).toBe(40);
    expect(flatKeyedValue(text, 'swap')).toBeUndefined();
    expect(flatKeyedValue('oom_kill_disable 0\nunder_oom 0\noom_kill 7', 'oom_kill')).toBe(7);
  });

  it('reads PSI lines, with or without "full"', () => {
    expect(parsePressure('some avg10=1.25 avg60=0.50 avg300=0.01 total=99\n')).toEqual({
      some: { avg10: 1.25, avg60: 0.5, avg300: 0.01, total: 99 },
    });
    expect(
      parsePressure(
        'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2',
      )!.full!.total,
    ).toBe(2);
    expect(parsePressure('')).toBeUndefined();
    expect(parsePressure('some avg10=x avg60=0 avg300=0 total=0\n')).toBeUndefined();
  });

  it('reads single values ("max" is no value), nested keys and pid lists', () => {
    expect(parseSingle('max\n')).toBeUndefined();
    expect(parseSingle('123\n')).toBe(123);
    expect(parseNestedKeyed('8:0 rbytes=1 wbytes=2\n').get('8:0')!.get('wbytes')).toBe('2');
    expect(parsePids('12\n34\n')).toEqual([12, 34]);
  });
});
