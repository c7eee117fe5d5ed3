import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { emptyState, FileNetStateStore, MemoryNetStateStore } from './state.ts';

describe('state stores', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('file store: empty when absent, round-trips, replaces atomically, leaves no temp file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-test-state-'));
    const store = new FileNetStateStore(join(dir, 'sub', 'net.json'));
    expect(await store.read()).toEqual(emptyState());
    const s = emptyState();
    s.savedSysctls = { 'net/ipv4/ip_forward': '0' };
    await store.write(s);
    expect(await store.read()).toEqual(s);
    s.savedSysctls = {};
    await store.write(s);
    expect(await store.read()).toEqual(s);
    expect(await readdir(join(dir, 'sub'))).toEqual(['net.json']);
    expect((await stat(join(dir, 'sub', 'net.json'))).mode & 0o777).toBe(0o600);
  });

  it('file store: refuses a state of an unknown version rather than guessing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-test-state-'));
    await writeFile(join(dir, 'net.json'), JSON.stringify({ version: 9 }));
    await expect(new FileNetStateStore(join(dir, 'net.json')).read()).rejects.toThrow(
      /unknown state version/,
    );
  });

  it('memory store: returns copies', async () => {
    const store = new MemoryNetStateStore();
    const s = await store.read();
    s.networks.x = {} as never;
    expect((await store.read()).networks).toEqual({});
  });
});
