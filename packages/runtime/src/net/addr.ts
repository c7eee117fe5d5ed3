// IPv4/IPv6 prefix arithmetic. Parsing and validation are ipaddr.js's (a well-kept library);
// the arithmetic is BigInt over the address bytes, the same for both families.
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The network address (host bits zero), canonical text. */
  network: string;
  length: number;
}

const bits = (f: Family): number => (f === 4 ? 32 : 128);

export function toBig(address: string): bigint {
  let v = 0n;
  for (const b of ipaddr.parse(address).toByteArray()) v = (v << 8n) | BigInt(b);
  return v;
}

export function fromBig(v: bigint, family: Family): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < n; i++) bytes.unshift(Number((v >> BigInt(8 * i)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses "10.87.0.0/16"; throws a plain Error with a reason (callers add the field). */
export function parsePrefix(cidr: string): Prefix {
  if (!ipaddr.isValidCIDR(cidr)) throw new Error(`"${cidr}" is not an address prefix like 10.87.0.0/16`);
  const [addr, length] = ipaddr.parseCIDR(cidr);
  const family: Family = addr.kind() === 'ipv4' ? 4 : 6;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress())
    throw new Error(`"${cidr}" is an IPv4-mapped prefix`);
  const v = toBig(addr.toString());
  const network = v & mask(family, length);
  if (network !== v) throw new Error(`"${cidr}" has host bits set (network is ${fromBig(network, family)})`);
  return { family, network: fromBig(network, family), length };
}

export function mask(family: Family, length: number): bigint {
  const total = bits(family);
  return ((1n << BigInt(total)) - 1n) ^ ((1n << BigInt(total - length)) - 1n);
}

export const prefixText = (p: Prefix): string => `${p.network}/${p.length}`;

export function contains(p: Prefix, address: string): boolean {
  const a = ipaddr.parse(address);
  if ((a.kind() === 'ipv4' ? 4 : 6) !== p.family) return false;
  return (toBig(address) & mask(p.family, p.length)) === toBig(p.network);
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.length, b.length);
  const m = mask(a.family, len);
  return (toBig(a.network) & m) === (toBig(b.network) & m);
}

/** The n-th address of a prefix (0 is the network address). */
export function nth(p: Prefix, n: bigint): string {
  return fromBig(toBig(p.network) + n, p.family);
}

/** Offset of an address inside its prefix. */
export const offsetOf = (p: Prefix, address: string): bigint => toBig(address) - toBig(p.network);

/** Number of host offsets usable for containers: 1..size-2 for IPv4 (network and broadcast
 * excluded), 1..size-1 for IPv6. */
export function lastUsableOffset(p: Prefix): bigint {
  const size = 1n << BigInt(bits(p.family) - p.length);
  return p.family === 4 ? size - 2n : size - 1n;
}

export function isValidAddress(s: string, family?: Family): boolean {
  if (family === 4) return ipaddr.IPv4.isValidFourPartDecimal(s);
  if (family === 6) return ipaddr.IPv6.isValid(s) && s.includes(':');
  return ipaddr.isValid(s) && (ipaddr.IPv4.isValidFourPartDecimal(s) || s.includes(':'));
}

export const familyOf = (address: string): Family => (address.includes(':') ? 6 : 4);

/** A deterministic, locally administered unicast MAC derived from an IPv4 address, as Docker
 * does (02:42:<ip>): the anti-spoofing rules know it before the link exists. */
export function macFor(ipv4: string): string {
  const b = ipaddr.parse(ipv4).toByteArray();
  return ['02', 'b7', ...b.map((x) => x.toString(16).padStart(2, '0'))].join(':');
}

/** A MAC address's six bytes ("02:b7:0a:57:00:02"); throws a plain Error for anything else. */
export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/** A random ULA /64 (fd00::/8, RFC 4193): 40 random bits of global id. */
export function randomUla(random: (n: number) => Buffer): string {
  const g = random(5);
  const bytes = [0xfd, ...g, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return `${ipaddr.fromByteArray(bytes).toString()}/64`;
}
