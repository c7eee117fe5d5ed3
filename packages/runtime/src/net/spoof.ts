// Anti-spoofing for the iptables fallback (nft's bridge table does it otherwise, nft.ts): a
// classic BPF program on the ingress of the host end of a container's veth (a clsact qdisc,
// cls_bpf in direct-action mode), so it sees every frame the container sends before the bridge
// does, whatever the host's packet filter. It passes only frames from the container's MAC that
// are IPv4 from its address, ARP naming its MAC and address as the sender, or IPv6 from its
// address, its link-local address or :: (duplicate address detection); everything else is
// dropped (other ethertypes, VLAN tags included). Why classic BPF in direct-action mode: it
// needs only cls_bpf, not the gact, police or flower modules, which kernels often leave out
// (this one does); tc loads it over netlink, no bpf() syscall, no compiler.

import ipaddr from 'ipaddr.js';
import { BpfAssembler, type SockFilter } from '../seccomp/bpf.ts';
import { macBytes } from './addr.ts';
import { linkLocalFor } from './nft.ts';

// Verdicts of a direct-action classifier (linux/pkt_cls.h).
const TC_ACT_SHOT = 2;
/** Not decided here: the next filter, or (there is none) the frame goes on. */
const TC_ACT_UNSPEC = 0xffffffff;

const JEQ = 0x15;

export interface SpoofGuard {
  mac: string;
  ip: string;
  ip6?: string;
}

/** The MAC as two 32-bit words: its first four bytes, and its last two in the high half (as a load masked with 0xffff0000 sees them). */
const macWords = (mac: string): [number, number] => {
  const b = macBytes(mac);
  return [b.readUInt32BE(0), b.readUInt16BE(4) * 0x10000];
};

const words = (address: string): number[] => {
  const bytes = ipaddr.parse(address).toByteArray();
  return Array.from(
    { length: bytes.length / 4 },
    (_, i) =>
      ((bytes[4 * i]! << 24) | (bytes[4 * i + 1]! << 16) | (bytes[4 * i + 2]! << 8) | bytes[4 * i + 3]!) >>>
      0,
  );
};

/** The program: offsets are from the Ethernet header (cls_bpf pushes it back at ingress). */
export function antiSpoofProgram(g: SpoofGuard): SockFilter[] {
  const a = new BpfAssembler();
  const drop = a.label();
  const pass = a.label();
  const [macHi, macLo] = macWords(g.mac);
  const ip4 = words(g.ip)[0]!;
  // Test A == k: on to the next instruction if equal, else `no`.
  const expect = (k: number, no = drop): void => {
    const next = a.label();
    a.jump(JEQ, k, next, no);
    a.place(next);
  };
  // Source MAC: bytes 6..11.
  a.load(6);
  expect(macHi);
  a.load(10);
  a.and(0xffff0000);
  expect(macLo);
  // Ethertype: bytes 12..13.
  const [isIp, isArp, isIp6] = [a.label(), a.label(), a.label()];
  a.load(10);
  a.and(0xffff);
  const notIp = a.label();
  const notArp = a.label();
  a.jump(JEQ, 0x0800, isIp, notIp);
  a.place(notIp);
  a.jump(JEQ, 0x0806, isArp, notArp);
  a.place(notArp);
  a.jump(JEQ, 0x86dd, isIp6, drop);
  // IPv4: source address at 14 + 12.
  a.place(isIp);
  a.load(26);
  a.jump(JEQ, ip4, pass, drop);
  // ARP over Ethernet/IPv4: sender MAC at 22..27, sender address at 28..31.
  a.place(isArp);
  a.load(22);
  expect(macHi);
  a.load(26);
  a.and(0xffff0000);
  expect(macLo);
  a.load(28);
  a.jump(JEQ, ip4, pass, drop);
  // IPv6: source address at 14 + 8, one of the allowed ones.
  a.place(isIp6);
  const allowed6 = ['::', linkLocalFor(g.mac), ...(g.ip6 ? [g.ip6] : [])];
  for (const addr of allowed6) {
    const next = a.label();
    const w = words(addr);
    for (let i = 0; i < 4; i++) {
      a.load(22 + 4 * i);
      if (i < 3) expect(w[i]!, next);
      else a.jump(JEQ, w[i]!, pass, next);
    }
    a.place(next);
  }
  a.ja(drop);
  a.place(pass);
  a.ret(TC_ACT_UNSPEC);
  a.place(drop);
  a.ret(TC_ACT_SHOT);
  return a.assemble();
}

/** tc's `bytecode` argument: "N,code jt jf k,...". */
export function tcBytecode(program: readonly SockFilter[]): string {
  return [String(program.length), ...program.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k >>> 0}`)].join(',');
}

/** `tc -batch` lines that install the guard on a host-side veth end (idempotent). */
export function antiSpoofLines(hostIf: string, g: SpoofGuard): string[] {
  return [
    `qdisc replace dev ${hostIf} clsact`,
    `filter replace dev ${hostIf} ingress pref 1 handle 1 protocol all bpf da bytecode "${tcBytecode(antiSpoofProgram(g))}"`,
  ];
}
