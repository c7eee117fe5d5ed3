// Minute rollups in a real agent database (SQLite in a temporary directory): written,
// replaced when a minute is written again, read back as history, pruned after 7 days.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { MINUTE, type RollupRow } from './rollup.ts';
import { type MetricsService, metricsService, ROLLUP_RETENTION_MS } from './service.ts';

let dir: string;
let db: AgentDb;
let metrics: MetricsService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-rollups-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  metrics = metricsService({ db }); // not started: nothing samples
});
afterEach(async () => {
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const rollup = (target: string, minute: number, cpu: number): RollupRow => ({
  target,
  minute,
  samples: 60,
  cpuPercentAvg: cpu,
  cpuPercentMax: cpu * 2,
  memoryAvg: 1000,
  memoryMax: 2000,
  pidsMax: 4,
  netRxBytes: 6000,
  netTxBytes: 0,
  blockReadBytes: 0,
  blockWriteBytes: 0,
  psiCpuAvg: null,
  psiMemoryAvg: null,
  psiIoAvg: null,
});

it('keeps minute rollups in the database and answers history from them beyond the last hour', async () => {
  const now = Date.now();
  const m = now - (now % MINUTE) - 3 * 3600_000;
  await metrics.persist([rollup('c1', m, 10), rollup('c1', m + MINUTE, 30), rollup('c2', m, 99)]);
  // The same minute written again (berthd restarted within it) replaces the row.
  await metrics.persist([rollup('c1', m + MINUTE, 50)]);
  expect(await db.metricRollup.count()).toBe(3);
  const h = await metrics.history({ target: 'c1', from: m, to: m + 10 * MINUTE, stepSec: 120 });
  expect(h).toMatchObject({ target: 'c1', stepSec: 120, resolution: '1m' });
  expect(h.points).toHaveLength(1);
  expect(h.points[0]).toMatchObject({ t: m, cpuPercent: 30, cpuPercentMax: 100, netRxBps: 100 });
  // Steps under a minute are rounded up to whole minutes for rollups.
  expect((await metrics.history({ target: 'c1', from: m, to: m + 10 * MINUTE, stepSec: 1 })).stepSec).toBe(
    60,
  );
});

it('prunes rollups older than 7 days and keeps the rest', async () => {
  const now = Date.now();
  await metrics.persist([
    rollup('c1', now - ROLLUP_RETENTION_MS - 2 * MINUTE, 1),
    rollup('c1', now - ROLLUP_RETENTION_MS + 10 * MINUTE, 2),
  ]);
  expect(await metrics.prune(now)).toBe(1);
  expect((await db.metricRollup.findMany()).map((r) => r.cpuPercentAvg)).toEqual([2]);
});
