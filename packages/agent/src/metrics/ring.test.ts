import { expect, it } from 'vitest';
import { F, newRow } from './fields.ts';
import { pointsFromRing } from './history.ts';
import { MetricsRing, TickClock } from './ring.ts';

const row = (cpu: number, mem = 100) => {
  const r = newRow();
  r[F.cpuPercent] = cpu;
  r[F.memoryBytes] = mem;
  return r;
};

it('keeps the last `capacity` ticks and forgets older ones', () => {
  const ring = new MetricsRing(4);
  for (let tick = 0; tick < 6; tick++) ring.write(tick, row(tick));
  expect([0, 1].map((t) => ring.has(t))).toEqual([false, false]);
  expect([2, 3, 4, 5].map((t) => ring.get(t, F.cpuPercent))).toEqual([2, 3, 4, 5]);
  expect(ring.get(6, F.cpuPercent)).toBeNaN();
  expect(ring.newest).toBe(5);
});

it('holds unknown values as NaN and a target that appeared late only from then on', () => {
  const ring = new MetricsRing(8);
  ring.write(5, newRow());
  expect(ring.get(5, F.cpuPercent)).toBeNaN();
  expect(ring.has(4)).toBe(false);
  expect(ring.has(5)).toBe(true);
});

it('uses fixed memory whatever the number of samples', () => {
  const ring = new MetricsRing(3600);
  const r = row(0);
  const before = process.memoryUsage().arrayBuffers;
  for (let tick = 0; tick < 20_000; tick++) {
    r[F.cpuPercent] = tick;
    ring.write(tick, r);
  }
  // No growth beyond the arrays allocated by the constructor (a little noise allowed).
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024);
});

it('finds ticks by time and averages them into buckets for charts', () => {
  const clock = new TickClock(10);
  const ring = new MetricsRing(10);
  const t0 = 1_000_000;
  for (let i = 0; i < 14; i++) ring.write(clock.advance(t0 + i * 1000), row(i, 1000 + i));
  // Ticks 0-3 are gone; 4..13 are at t0+4000..t0+13000.
  expect(clock.oldestTime).toBe(t0 + 4000);
  expect(clock.firstAtOrAfter(t0)).toBe(4);
  expect(clock.firstAtOrAfter(t0 + 6500)).toBe(7);
  const points = pointsFromRing(ring, clock, t0 + 4000, t0 + 11_000, 4000);
  expect(points.map((p) => [p.t, p.cpuPercent, p.cpuPercentMax, p.memoryBytesMax])).toEqual([
    [t0 + 4000, 5.5, 7, 1007],
    [t0 + 8000, 9.5, 11, 1011],
  ]);
  expect(points[0]!.psi).toEqual({ cpu: null, memory: null, io: null });
});
