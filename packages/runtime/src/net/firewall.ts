// Which packet filter the host offers: nftables (nft.ts, preferred) or iptables (iptables.ts,
// the fallback for hosts without nft: NAT, port forwards and forwarding policy, no
// anti-spoofing). Detected by running each, never assumed from the distribution.
import { run } from './exec.ts';

export type FirewallKind = 'nft' | 'iptables' | 'none';

const works = async (cmd: string, args: string[]): Promise<boolean> => {
  try {
    return (await run(cmd, args, { allowFail: true })).code === 0;
  } catch {
    return false; // not installed
  }
};

const probes = {
  nft: () => works('nft', ['list', 'tables']),
  iptables: () => works('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING']),
};

/** The first that works (nft, then iptables), or "none". */
export async function detectFirewall(): Promise<FirewallKind>;
/** Whether `kind` works here. */
export async function detectFirewall(kind: 'nft' | 'iptables'): Promise<boolean>;
export async function detectFirewall(kind?: 'nft' | 'iptables'): Promise<FirewallKind | boolean> {
  if (kind) return probes[kind]();
  if (await probes.nft()) return 'nft';
  if (await probes.iptables()) return 'iptables';
  return 'none';
}
