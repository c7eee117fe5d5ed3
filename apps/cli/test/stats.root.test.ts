// Root: `berth stats` through the bundled CLI against the real bundled berthd: the host's
// row, and a container launched through the CLI (busy, so its CPU shows), whose image then
// cannot be removed. The container is removed in afterAll, even when a test fails.
import { MetricsTick } from '@berth/contracts';
import { afterAll, expect, it } from 'vitest';
import { useBerthd } from './harness.ts';

const agent = useBerthd('cli-stats');
const berth = (args: string[], untilLines?: number) => agent.berth(args, untilLines ? { untilLines } : {});

afterAll(async () => {
  await berth(['rm', '-f', 'berth-test-spin']);
});

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

it('shows a running container with its CPU use, and refuses to remove the image it uses', async () => {
  const launched = await berth([
    'launch',
    'busybox',
    'berth-test-spin',
    '--',
    'sh',
    '-c',
    'while :; do :; done',
  ]);
  expect(launched).toMatchObject({ code: 0 });
  // Sampled every second; a couple of seconds give it a CPU figure even on a loaded VM.
  let spin: MetricsTick['samples'][number] | undefined;
  for (let i = 0; i < 20 && !(spin && spin.cpuPercent > 0); i++) {
    await new Promise((r) => setTimeout(r, 500));
    const r = await berth(['stats', '--no-stream', '--format', 'json', 'berth-test-spin']);
    spin = MetricsTick.parse(JSON.parse(r.stdout)).samples[0];
  }
  expect(spin).toMatchObject({ name: 'berth-test-spin', pids: 1 });
  expect(spin!.cpuPercent).toBeGreaterThan(0);
  expect(spin!.memoryBytes).toBeGreaterThan(0);
  const rm = await berth(['image', 'rm', 'berth.local/minimal:latest']);
  expect(rm.code).not.toBe(0);
  expect(rm.stderr).toBe(
    'berth: image berth.local/minimal:latest is used by container berth-test-spin; remove it first\n',
  );
});
