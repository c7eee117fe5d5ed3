// What berthd does on its own, end to end as root through the bundled CLI: an OOM kill
// reported as an event, restart back-off, `unless-stopped` after a stop, autostart order and
// delays across an agent restart, and the I/O weight reaching the container's cgroup.
// Everything lives under names containing "berth-test" and is removed after, even on failure.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEventInfo, ContainerInfo } from '@berth/contracts';
import { describe, expect, it } from 'vitest';
import { until, useTaggedBerthd } from './harness.ts';

const agent = useTaggedBerthd(`berth-test-policies-${process.pid}`, { stopTimeoutSec: 2 });
const { ok } = agent;
const inspect = async (name: string) => JSON.parse(await ok('inspect', name)) as ContainerInfo;
const events = async (subject: string) =>
  (await ok('events', '--since', '0', '--format', 'json'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AgentEventInfo)
    .filter((e) => e.subject === subject);
const ms = (e: AgentEventInfo) => Date.parse(e.at);

describe('berthd on its own', () => {
  it('reports an OOM kill as an event before the exit, with status 137', async () => {
    // busybox dd fills a 64 MiB buffer: more than the container's 16 MiB may hold.
    await ok(
      'launch',
      'busybox',
      'hog',
      '--memory',
      '16M',
      '--',
      'dd',
      'if=/dev/zero',
      'of=/dev/null',
      'bs=64M',
      'count=1',
    );
    await until('hog stopped', async () => (await inspect('hog')).state === 'stopped');
    expect((await inspect('hog')).exitCode).toBe(137);
    const kinds = (await events('hog')).map((e) => e.kind);
    expect(kinds).toContain('container.oom-killed');
    expect(kinds.indexOf('container.oom-killed')).toBeLessThan(kinds.indexOf('container.exited'));
    await ok('rm', 'hog');
  });

  it('restarts an `always` container with a growing back-off, and a stop ends it', async () => {
    await ok('launch', 'busybox', 'bouncer', '--restart', 'always', '--', 'true');
    await until('four restarts', async () => (await inspect('bouncer')).restartCount >= 4, 30_000);
    const evs = await events('bouncer');
    // Each restart's wait: from an exit to the restart that follows it.
    const waits: number[] = [];
    let exitedAt: number | undefined;
    for (const e of evs) {
      if (e.kind === 'container.exited') exitedAt = ms(e);
      if (e.kind === 'container.restarted' && exitedAt !== undefined) waits.push(ms(e) - exitedAt);
    }
    expect(waits.length).toBeGreaterThanOrEqual(4);
    // Nominal 100, 200, 400, 800 ms; the machine's noise only adds.
    expect(waits[3]!).toBeGreaterThanOrEqual(750);
    expect(waits[3]!).toBeGreaterThan(waits[0]!);
    await ok('stop', 'bouncer');
    const after = (await inspect('bouncer')).restartCount;
    await new Promise((r) => setTimeout(r, 2500));
    const c = await inspect('bouncer');
    expect([c.state, c.restartCount]).toEqual(['stopped', after]);
    await ok('rm', '-f', 'bouncer');
  });

  it('gives the container its I/O weight in its blkio cgroup', async () => {
    await ok('launch', 'busybox', 'weighted', '--io-weight', '300', '--', 'sleep', '1000');
    const c = await inspect('weighted');
    const cg = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => /^\d+:blkio:/.test(l))
      ?.split(':')[2];
    const file = join('/sys/fs/cgroup/blkio', cg ?? '/missing', 'blkio.bfq.weight');
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/(^|\s)300\s*$/m);
    await ok('limits', 'weighted', '--io-weight', '700');
    expect(readFileSync(file, 'utf8')).toMatch(/(^|\s)700\s*$/m);
    await ok('rm', '-f', 'weighted');
  });

  it('autostarts in order with the delays after an agent restart, and keeps an unless-stopped container stopped', async () => {
    await ok('create', 'busybox', 'second', '--autostart', '--autostart-order', '2', '--', 'sleep', '1000');
    await ok(
      'create',
      'busybox',
      'first',
      '--autostart',
      '--autostart-order',
      '1',
      '--autostart-delay',
      '1500',
      '--',
      'sleep',
      '1000',
    );
    await ok('launch', 'busybox', 'held', '--restart', 'unless-stopped', '--', 'sleep', '1000');
    await ok('stop', 'held');
    await agent.restart();
    await until('both autostarted', async () => (await inspect('second')).state === 'running');
    expect((await inspect('first')).state).toBe('running');
    const started = async (n: string) =>
      ms((await events(n)).findLast((e) => e.kind === 'container.started')!);
    expect((await started('second')) - (await started('first'))).toBeGreaterThanOrEqual(1500);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await inspect('held')).state).toBe('stopped');
    await ok('rm', '-f', 'first', 'second', 'held');
  });
});
