import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { syncForwarding } from './sysctl.ts';
import { testNetwork } from './testing.ts';

// The logic runs against a directory shaped like /proc/sys (the real one is shared by every
// test on the host; the root tests use per-bridge forwarding for that reason).
describe('forwarding sysctls', () => {
  let root = '';
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function procSys(ip4: string, ip6: string): Promise<void> {
    root = await mkdtemp(join(tmpdir(), 'berth-test-sysctl-'));
    await mkdir(join(root, 'net/ipv4/conf/bx'), { recursive: true });
    await mkdir(join(root, 'net/ipv6/conf/all'), { recursive: true });
    await writeFile(join(root, 'net/ipv4/ip_forward'), ip4);
    await writeFile(join(root, 'net/ipv6/conf/all/forwarding'), ip6);
    await writeFile(join(root, 'net/ipv4/conf/bx/forwarding'), '0');
  }
  const read = (k: string) => readFile(join(root, k), 'utf8');

  it('global: saves the host value durably before switching on, restores it after the last network', async () => {
    await procSys('0', '0');
    const persisted: Array<Record<string, string>> = [];
    const persist = async (s: Record<string, string>) => {
      // At the time the value is persisted, the sysctl is still the host's.
      expect(await read('net/ipv4/ip_forward')).toBe('0');
      persisted.push(s);
    };
    const nets = [testNetwork('a', 'bx', '10.9.0.0/24')];
    const saved = await syncForwarding({ networks: nets, saved: {}, mode: 'global', root, persist });
    expect(saved).toEqual({ 'net/ipv4/ip_forward': '0' });
    expect(persisted).toEqual([{ 'net/ipv4/ip_forward': '0' }]);
    expect(await read('net/ipv4/ip_forward')).toBe('1');
    expect(await read('net/ipv6/conf/all/forwarding')).toBe('0');
    // Another sync (agent restart) changes nothing and keeps the original.
    expect(await syncForwarding({ networks: nets, saved, mode: 'global', root, persist })).toEqual(saved);
    expect(persisted).toHaveLength(1);
    const after = await syncForwarding({ networks: [], saved, mode: 'global', root, persist });
    expect(after).toEqual({});
    expect(await read('net/ipv4/ip_forward')).toBe('0');
  });

  it('global: a host that already forwards keeps forwarding after', async () => {
    await procSys('1', '0');
    const nets = [testNetwork('a', 'bx', '10.9.0.0/24')];
    const saved = await syncForwarding({
      networks: nets,
      saved: {},
      mode: 'global',
      root,
      persist: async () => {},
    });
    await syncForwarding({ networks: [], saved, mode: 'global', root, persist: async () => {} });
    expect(await read('net/ipv4/ip_forward')).toBe('1');
  });

  it('bridges: only the bridges forward; the global switch is left alone', async () => {
    await procSys('0', '0');
    const nets = [testNetwork('a', 'bx', '10.9.0.0/24')];
    expect(
      await syncForwarding({ networks: nets, saved: {}, mode: 'bridges', root, persist: async () => {} }),
    ).toEqual({});
    expect(await read('net/ipv4/conf/bx/forwarding')).toBe('1');
    expect(await read('net/ipv4/ip_forward')).toBe('0');
  });
});
