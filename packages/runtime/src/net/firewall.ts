// Which packet filter the host offers. Berth's rules are nftables (nft.ts); the iptables
// fallback the design allows for hosts without nft is not written yet, so such a host is
// refused with a clear error rather than left with containers and no isolation.
import { run } from './exec.ts';

export type FirewallKind = 'nft' | 'iptables' | 'none';

export async function detectFirewall(): Promise<FirewallKind> {
  const works = async (cmd: string, args: string[]): Promise<boolean> => {
    try {
      return (await run(cmd, args, { allowFail: true })).code === 0;
    } catch {
      return false; // not installed
    }
  };
  if (await works('nft', ['list', 'tables'])) return 'nft';
  if (await works('iptables', ['-w', '-S', 'INPUT'])) return 'iptables';
  return 'none';
}
