import { describe, expect, it } from 'vitest';
import type { SockFilter } from '../seccomp/bpf.ts';
import { macBytes } from './addr.ts';
import { antiSpoofLines, antiSpoofProgram, tcBytecode } from './spoof.ts';

// The kernel runs the program in test/net/iptables.root.test.ts; here
// a small interpreter of the instructions it uses checks its verdicts on hand-made frames.
function runProgram(prog: SockFilter[], frame: Buffer): number {
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const i = prog[pc]!;
    switch (i.code) {
      case 0x20: // ld [k]
        if (i.k + 4 > frame.length) return 0; // out of the packet: the kernel returns 0
        a = frame.readUInt32BE(i.k);
        break;
      case 0x54: // and #k
        a = (a & i.k) >>> 0;
        break;
      case 0x15: // jeq #k
        pc += a === i.k ? i.jt : i.jf;
        break;
      case 0x05: // ja
        pc += i.k;
        break;
      case 0x06: // ret #k
        return i.k;
      default:
        throw new Error(`unexpected opcode ${i.code}`);
    }
  }
  throw new Error('fell off the end');
}

const MAC = '02:42:0a:09:00:02';
const IP = '10.9.0.2';
const IP6 = 'fd00:9::2';
const PASS = 0xffffffff; // TC_ACT_UNSPEC: on to the next filter
const DROP = 2; // TC_ACT_SHOT

const ip4 = (a: string) => Buffer.from(a.split('.').map(Number));
function ip6(a: string): Buffer {
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}
const eth = (src: string, type: number, payload: Buffer) =>
  Buffer.concat([Buffer.alloc(6, 0xff), macBytes(src), Buffer.from([type >> 8, type & 0xff]), payload]);
const ipv4 = (src: string, from = MAC) => {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  ip4(src).copy(h, 12);
  return eth(from, 0x0800, h);
};
const arp = (sha: string, spa: string, from = MAC) => {
  const p = Buffer.alloc(28);
  p.writeUInt16BE(1, 0);
  p.writeUInt16BE(0x0800, 2);
  p[4] = 6;
  p[5] = 4;
  p.writeUInt16BE(1, 6);
  macBytes(sha).copy(p, 8);
  ip4(spa).copy(p, 14);
  return eth(from, 0x0806, p);
};
const ipv6 = (src: string, from = MAC) => {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  ip6(src).copy(h, 8);
  return eth(from, 0x86dd, h);
};

describe('anti-spoofing guard (classic BPF for tc)', () => {
  const prog = antiSpoofProgram({ mac: MAC, ip: IP, ip6: IP6 });

  it("passes the container's own IPv4, ARP and IPv6 (its address, link-local, ::)", () => {
    expect(runProgram(prog, ipv4(IP))).toBe(PASS);
    expect(runProgram(prog, arp(MAC, IP))).toBe(PASS);
    expect(runProgram(prog, ipv6(IP6))).toBe(PASS);
    expect(runProgram(prog, ipv6('fe80::42:aff:fe09:2'))).toBe(PASS);
    expect(runProgram(prog, ipv6('::'))).toBe(PASS);
  });

  it('drops another source address or MAC, ARP lies, and other ethertypes', () => {
    expect(runProgram(prog, ipv4('10.9.0.3'))).toBe(DROP);
    expect(runProgram(prog, ipv4(IP, '02:42:0a:09:00:03'))).toBe(DROP);
    expect(runProgram(prog, arp('02:42:0a:09:00:03', IP))).toBe(DROP);
    expect(runProgram(prog, arp(MAC, '10.9.0.3'))).toBe(DROP);
    expect(runProgram(prog, ipv6('fd00:9::3'))).toBe(DROP);
    expect(runProgram(prog, ipv6('fe80::1'))).toBe(DROP);
    expect(runProgram(prog, eth(MAC, 0x8100, Buffer.alloc(46)))).toBe(DROP); // a VLAN tag
    expect(runProgram(prog, eth(MAC, 0x88cc, Buffer.alloc(46)))).toBe(DROP); // LLDP
  });

  it('without an IPv6 address, only link-local and :: pass over IPv6', () => {
    const v4only = antiSpoofProgram({ mac: MAC, ip: IP });
    expect(runProgram(v4only, ipv6('fe80::42:aff:fe09:2'))).toBe(PASS);
    expect(runProgram(v4only, ipv6(IP6))).toBe(DROP);
  });

  it("renders tc's bytecode argument and the batch lines", () => {
    const code = tcBytecode(prog);
    expect(code.split(',')[0]).toBe(String(prog.length));
    expect(code.split(',')).toHaveLength(prog.length + 1);
    const lines = antiSpoofLines('vb1', { mac: MAC, ip: IP });
    expect(lines[0]).toBe('qdisc replace dev vb1 clsact');
    expect(lines[1]).toMatch(
      /^filter replace dev vb1 ingress pref 1 handle 1 protocol all bpf da bytecode "\d+,/,
    );
  });
});
