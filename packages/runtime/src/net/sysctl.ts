// Host sysctls Berth needs while it has networks. The value found before Berth changed it is
// saved in NetState, so the host gets its own setting back when the last network goes (even
// across an agent restart).
import { readFile, writeFile } from 'node:fs/promises';
import type { NetworkRecord } from './state.ts';

export const IPV4_FORWARD = 'net/ipv4/ip_forward';
export const IPV6_FORWARD = 'net/ipv6/conf/all/forwarding';

export async function readSysctl(key: string, root = '/proc/sys'): Promise<string> {
  return (await readFile(`${root}/${key}`, 'utf8')).trim();
}

export async function writeSysctl(key: string, value: string, root = '/proc/sys'): Promise<void> {
  await writeFile(`${root}/${key}`, value);
}

export interface ForwardingSync {
  networks: NetworkRecord[];
  /** Host values saved before Berth changed them (from NetState). */
  saved: Record<string, string>;
  mode: 'global' | 'bridges';
  root: string;
  /** Makes a newly saved value durable; called before the sysctl is changed. */
  persist: (saved: Record<string, string>) => Promise<void>;
}

/** Switches routing on while networks exist and gives the host its own value back after the
 * last; returns the saved values to keep. */
export async function syncForwarding(s: ForwardingSync): Promise<Record<string, string>> {
  const global = s.mode === 'global';
  if (!global) {
    // A bridge missing here (removed behind Berth's back) gets recreated on the next restore.
    const onBridge = (key: string) =>
      writeSysctl(key, '1', s.root).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    for (const n of s.networks) {
      await onBridge(`net/ipv4/conf/${n.bridge}/forwarding`);
      if (n.subnet6) await onBridge(`net/ipv6/conf/${n.bridge}/forwarding`);
    }
  }
  const want: Record<string, boolean> = {
    [IPV4_FORWARD]: global && s.networks.length > 0,
    [IPV6_FORWARD]: global && s.networks.some((n) => n.subnet6),
  };
  const saved = { ...s.saved };
  for (const [key, on] of Object.entries(want)) {
    if (on) {
      const cur = await readSysctl(key, s.root);
      if (!(key in saved)) {
        saved[key] = cur;
        await s.persist({ ...saved });
      }
      if (cur !== '1') await writeSysctl(key, '1', s.root);
    } else if (key in saved) {
      await writeSysctl(key, saved[key]!, s.root);
      delete saved[key];
    }
  }
  return saved;
}
