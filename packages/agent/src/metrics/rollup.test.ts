import { expect, it } from 'vitest';
import { F, newRow } from './fields.ts';
import { pointsFromRollups } from './history.ts';
import { MINUTE, RollupAccumulator } from './rollup.ts';

const row = (v: { cpu: number; mem: number; rx?: number; psi?: number }) => {
  const r = newRow();
  r[F.cpuPercent] = v.cpu;
  r[F.memoryBytes] = v.mem;
  r[F.pids] = 3;
  r[F.netRxBps] = v.rx ?? Number.NaN;
  r[F.psiCpu] = v.psi ?? Number.NaN;
  return r;
};

it('rolls a minute of samples into averages, maxima and bytes moved, emitted when the next minute starts', () => {
  const acc = new RollupAccumulator('c1');
  const m0 = 10 * MINUTE;
  expect(acc.add(m0 + 1000, 1, row({ cpu: 10, mem: 100, rx: 1000, psi: 1 }))).toBeUndefined();
  expect(acc.add(m0 + 2000, 1, row({ cpu: 30, mem: 300, rx: 3000 }))).toBeUndefined();
  const done = acc.add(m0 + MINUTE + 500, 1, row({ cpu: 50, mem: 500 }));
  expect(done).toEqual({
    target: 'c1',
    minute: m0,
    samples: 2,
    cpuPercentAvg: 20,
    cpuPercentMax: 30,
    memoryAvg: 200,
    memoryMax: 300,
    pidsMax: 3,
    netRxBytes: 4000,
    netTxBytes: 0,
    blockReadBytes: 0,
    blockWriteBytes: 0,
    psiCpuAvg: 1,
    psiMemoryAvg: null,
    psiIoAvg: null,
  });
  expect(acc.peek()).toMatchObject({ minute: m0 + MINUTE, samples: 1, cpuPercentAvg: 50 });
  expect(acc.flush()).toMatchObject({ samples: 1 });
  expect(acc.flush()).toBeUndefined();
});

it('skips samples of a target that could not be read', () => {
  const acc = new RollupAccumulator('c1');
  acc.add(1000, 1, newRow());
  expect(acc.peek()).toBeUndefined();
});

it('turns minute rollups into points of any whole-minute step, weighted by samples', () => {
  const base = { target: 'c', pidsMax: 2, netTxBytes: 0, blockReadBytes: 0, blockWriteBytes: 0 };
  const rows = [
    {
      ...base,
      minute: 0,
      samples: 60,
      cpuPercentAvg: 10,
      cpuPercentMax: 20,
      memoryAvg: 100,
      memoryMax: 150,
      netRxBytes: 6000,
      blockReadBytes: 0,
      psiCpuAvg: 2,
      psiMemoryAvg: null,
      psiIoAvg: null,
    },
    {
      ...base,
      minute: MINUTE,
      samples: 30,
      cpuPercentAvg: 40,
      cpuPercentMax: 90,
      memoryAvg: 400,
      memoryMax: 500,
      netRxBytes: 3000,
      psiCpuAvg: 4,
      psiMemoryAvg: null,
      psiIoAvg: null,
    },
    {
      ...base,
      minute: 2 * MINUTE,
      samples: 60,
      cpuPercentAvg: 5,
      cpuPercentMax: 5,
      memoryAvg: 50,
      memoryMax: 50,
      netRxBytes: 0,
      psiCpuAvg: null,
      psiMemoryAvg: null,
      psiIoAvg: null,
    },
  ];
  const points = pointsFromRollups(rows, 0, 2 * MINUTE);
  expect(points).toHaveLength(2);
  expect(points[0]).toMatchObject({
    t: 0,
    cpuPercent: 20,
    cpuPercentMax: 90,
    memoryBytes: 200,
    memoryBytesMax: 500,
    pids: 2,
    netRxBps: 100,
  });
  expect(points[0]!.psi).toEqual({ cpu: 3, memory: null, io: null });
  expect(points[1]).toMatchObject({ t: 2 * MINUTE, cpuPercent: 5, netRxBps: 0 });
});
