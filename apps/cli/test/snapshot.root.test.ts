// Snapshots of a running container, end to end as root: the real bundled berthd freezes the
// container's cgroup for the copy of its upper dir and thaws it; the container keeps running
// and writing, and a restore after a stop brings back the files as they were at the snapshot.
// Needs root: containers, cgroups, overlay mounts.
import { describe, expect, it } from 'vitest';
import { until, useTaggedBerthd } from './harness.ts';

const { ok } = useTaggedBerthd(`berth-test-snap-${process.pid}`, { stopTimeoutSec: 1 });

const inside = (name: string, script: string) => ok('exec', name, '--', 'sh', '-c', script);
const state = async (name: string) => (JSON.parse(await ok('inspect', name)) as { state: string }).state;

describe('snapshots and clones of a running container', () => {
  it('are taken without stopping it, and restore after a stop', async () => {
    // A writer that keeps counting into /data/count while the snapshot is taken.
    await ok(
      'launch',
      'busybox',
      'live',
      '--',
      'sh',
      '-c',
      'mkdir -p /data; i=0; while :; do i=$((i+1)); echo $i > /data/count; sleep 0.05; done',
    );
    await inside('live', 'echo before > /data/file && mkdir -p /data/dir && ln -s file /data/link');
    await until('the writer counting', async () => Number(await inside('live', 'cat /data/count')) > 3);

    await ok('snapshot', 'create', 'live', 'snap1');
    // Thawed again: still running, not paused, and still writing.
    expect(await state('live')).toBe('running');
    const after = Number(await inside('live', 'cat /data/count'));
    await until('the writer going on', async () => Number(await inside('live', 'cat /data/count')) > after);
    expect(await ok('snapshot', 'ls', 'live', '--format', 'json')).toContain('"snap1"');

    await inside('live', 'echo after > /data/file && rm -r /data/dir /data/link && touch /data/new');
    await ok('stop', 'live');
    await ok('restore', 'live', 'snap1');
    await ok('start', 'live');
    expect(await inside('live', 'cat /data/file')).toBe('before\n');
    expect(await inside('live', 'test -d /data/dir && readlink /data/link')).toBe('file\n');
    expect((await inside('live', 'test -e /data/new && echo yes || echo no')).trim()).toBe('no');
  });

  it('clone a running container without stopping it', async () => {
    await ok('launch', 'busybox', 'src', '--', 'sleep', '100000');
    await inside('src', 'echo mine > /mine');
    await ok('clone', 'src', 'copy');
    expect(await state('src')).toBe('running');
    await ok('start', 'copy');
    expect(await inside('copy', 'cat /mine')).toBe('mine\n');
  });

  it('of a frozen container leaves it frozen', async () => {
    await ok('launch', 'busybox', 'cold', '--', 'sleep', '100000');
    await ok('freeze', 'cold');
    await ok('snapshot', 'create', 'cold', 's');
    expect(await state('cold')).toBe('paused');
    await ok('unfreeze', 'cold');
    expect(await state('cold')).toBe('running');
  });
});
