import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openPeerNetns } from './peer-netns.ts';

// A child of the test stands in for a peer's init: its pid and namespace are real, and it can
// die or be disowned by the check at will (no root: our own child's /proc/<pid>/ns is ours).
describe('openPeerNetns', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });
  const sleeper = async () => {
    child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => child!.once('spawn', r));
    return child.pid!;
  };

  it('holds the peer namespace at a path no later process can take over', async () => {
    const pid = await sleeper();
    const ns = readlinkSync(`/proc/${pid}/ns/net`);
    const held = openPeerNetns(pid, () => true, 'peer');
    try {
      expect(held.path).toMatch(new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
      expect(readlinkSync(held.path)).toBe(ns);
      // The peer's death does not change what the path names.
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      expect(readlinkSync(held.path)).toBe(ns);
    } finally {
      held.close();
    }
  });

  it('refuses a pid whose start time is not the init the runtime recorded (pid reused)', async () => {
    const pid = await sleeper();
    expect(() => openPeerNetns(pid, () => false, 'network container:web: web')).toThrow(
      expect.objectContaining({
        code: 'CONFLICT',
        message: expect.stringContaining('container:web: web exited'),
      }),
    );
  });

  it('refuses a peer that dies while its namespace is being opened', async () => {
    const pid = await sleeper();
    const died = new Promise((r) => child!.once('exit', r));
    // Dies after the pidfd is taken and before the namespace is opened (a zombie: this test,
    // its parent, reaps it only once the call returns).
    let killed = false;
    const check = () => {
      child!.kill('SIGKILL');
      while (!/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {}
      killed = true;
      return true;
    };
    expect(() => openPeerNetns(pid, check, 'peer')).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(killed).toBe(true);
    await died;
  });

  it('refuses a pid that is gone', async () => {
    const pid = await sleeper();
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(() => openPeerNetns(pid, () => true, 'peer')).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
  });
});
