// Root: `berth stats` through the bundled CLI against the real bundled berthd (the host's
// own row: containers come with the container service).
import { MetricsTick } from '@berth/contracts';
import { expect, it } from 'vitest';
import { useBerthd } from './harness.ts';

const agent = useBerthd('cli-stats');
const berth = (args: string[], untilLines?: number) => agent.berth(args, untilLines ? { untilLines } : {});

it('prints one snapshot as a table or as JSON with --no-stream', async () => {
  const text = await berth(['stats', '--no-stream']);
  expect(text.code).toBe(0);
  const [header, host] = text.stdout.split('\n');
  expect(header).toMatch(
    /^NAME\s+CPU\s+MEM USAGE \/ LIMIT\s+MEM\s+NET RX \/ TX\s+BLOCK R \/ W\s+PIDS\s+PSI cpu mem io$/,
  );
  expect(host).toMatch(/^host\s+\d+\.\d%\s+[\d.]+ [KMG]iB \/ [\d.]+ [KMG]iB\s+\d+\.\d%/);
  const json = await berth(['stats', '--no-stream', '--format', 'json', 'host']);
  const tick = MetricsTick.parse(JSON.parse(json.stdout));
  expect(tick.samples.map((s) => s.target)).toEqual(['host']);
});

it('streams one JSON line per second until interrupted, then exits 0', async () => {
  const r = await berth(['stats', '--format', 'json'], 2);
  expect(r.code).toBe(0);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => MetricsTick.parse(JSON.parse(l)));
  expect(lines.length).toBeGreaterThanOrEqual(2);
  expect(lines[1]!.t).toBeGreaterThan(lines[0]!.t);
});

it('names a target it has no metrics for', async () => {
  expect(await berth(['stats', '--no-stream', 'nothere'])).toMatchObject({
    code: 1,
    stderr: 'berth: no metrics for nothere\n',
  });
});
