// Address management over NetState (pure: the manager persists the result before use).
// Addresses are leased per container; the gateway takes the first host address. Allocation
// goes round from a cursor rather than taking the lowest free address, so an address just
// released is not handed straight to the next container (stale ARP/DNS caches elsewhere).
import { contains, lastUsableOffset, nth, offsetOf, parsePrefix } from './addr.ts';
import { NetError } from './errors.ts';
import type { NetState, NetworkRecord } from './state.ts';

export interface Lease {
  ip: string;
  ip6?: string;
}

export function leasedAddresses(state: NetState, network: string): Set<string> {
  const used = new Set<string>();
  for (const ep of Object.values(state.endpoints)) if (ep.network === network) used.add(ep.ip);
  return used;
}

/** Picks a free address in the network; `cursor` is the last offset handed out. */
export function allocate(
  state: NetState,
  net: NetworkRecord,
  cursor: bigint,
  requested?: string,
): { lease: Lease; cursor: bigint } {
  const p4 = parsePrefix(net.subnet);
  const used = leasedAddresses(state, net.name);
  used.add(net.gateway);
  const v6 = (offset: bigint): string | undefined =>
    net.subnet6 ? nth(parsePrefix(net.subnet6), offset) : undefined;
  if (requested) {
    if (!contains(p4, requested))
      throw new NetError('invalid_argument', `ip: ${requested} is not in ${net.subnet}`, 'ip');
    const off = offsetOf(p4, requested);
    if (off < 1n || off > lastUsableOffset(p4))
      throw new NetError('invalid_argument', `ip: ${requested} is the network or broadcast address`, 'ip');
    if (used.has(requested))
      throw new NetError('conflict', `ip: ${requested} is already in use on ${net.name}`, 'ip');
    return { lease: { ip: requested, ip6: v6(off) }, cursor };
  }
  const last = lastUsableOffset(p4);
  let off = cursor;
  for (let tried = 0n; tried < last; tried++) {
    off = off >= last ? 1n : off + 1n;
    const ip = nth(p4, off);
    if (!used.has(ip)) return { lease: { ip, ip6: v6(off) }, cursor: off };
  }
  throw new NetError('exhausted', `network ${net.name}: no free address left in ${net.subnet}`);
}
