import { afterEach, describe, expect, it } from 'vitest';
import { withUmask } from './umask.ts';

// berthd runs with umask 077; a create widens it to 022 while the runtime makes cgroup
// directories, across awaits, so creates of two containers overlap.

describe('withUmask', () => {
  const original = process.umask(0o077);
  afterEach(() => {
    process.umask(original);
  });

  it('puts the umask back after overlapping calls, whichever ends first', async () => {
    process.umask(0o077);
    let endA!: () => void;
    let endB!: () => void;
    const a = withUmask(0o022, () => new Promise<void>((r) => (endA = r)));
    const b = withUmask(0o022, async () => {
      expect(process.umask()).toBe(0o022); // process.umask() reads it (deprecated, still works)
      await new Promise<void>((r) => (endB = r));
    });
    await new Promise((r) => setImmediate(r));
    endA(); // the first one ends first
    await a;
    expect(process.umask()).toBe(0o022); // b still runs with it
    endB();
    await b;
    expect(process.umask()).toBe(0o077);
  });

  it('puts it back when the call fails', async () => {
    process.umask(0o077);
    await expect(
      withUmask(0o022, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(process.umask()).toBe(0o077);
  });
});
