import { describe, expect, it } from 'vitest';
import { NetError } from './errors.ts';
import { addrBytes, addrMessage, attr, defaultRouteMessage, parseReply, vethMessage } from './rtnl.ts';

// The rtnetlink messages byte for byte where it matters (the kernel's own answers are in the
// root tests: every attach in test/net goes through them).
describe('rtnetlink encoding', () => {
  it('pads attributes to 4 bytes and keeps the unpadded length', () => {
    const a = attr(3, Buffer.from('eth0\0'));
    expect(a.length).toBe(12);
    expect(a.readUInt16LE(0)).toBe(9);
    expect(a.readUInt16LE(2)).toBe(3);
  });

  it('encodes addresses in network order', () => {
    expect([...addrBytes('10.87.0.2')]).toEqual([10, 87, 0, 2]);
    expect(addrBytes('fd00:1::2').toString('hex')).toBe('fd000001000000000000000000000002');
    expect(() => addrBytes('10.87.0.300')).toThrow(NetError);
  });

  it('an address message: header length, family, prefix, NODAD for IPv6, local+address', () => {
    const m = addrMessage(7, '10.87.0.2', 16, 3);
    expect(m.readUInt32LE(0)).toBe(m.length);
    expect(m.readUInt16LE(4)).toBe(20); // RTM_NEWADDR
    expect(m.readUInt16LE(6)).toBe(0x605); // REQUEST | ACK | EXCL | CREATE
    expect(m.readUInt32LE(8)).toBe(3);
    expect([m[16], m[17], m[18]]).toEqual([2, 16, 0]);
    expect(m.readUInt32LE(20)).toBe(7);
    expect(m.length).toBe(16 + 8 + 8 + 8);
    const m6 = addrMessage(7, 'fd00::2', 64, 4);
    expect([m6[16], m6[17], m6[18]]).toEqual([10, 64, 2]);
    expect(m6.length).toBe(16 + 8 + 20 + 20 + 8);
  });

  it('a veth message nests the peer (ifinfomsg first) with its name, MTU and namespace fd', () => {
    const m = vethMessage(
      {
        hostIf: 'vbabc',
        bridge: 'b',
        netns: '/proc/1/ns/net',
        mtu: 1400,
        mac: '02:42:0a:57:00:02',
        ip: '10.87.0.2',
        prefixLength: 16,
        gateway: '10.87.0.1',
        isolated: false,
      },
      42,
      1,
    );
    expect(m.readUInt32LE(0)).toBe(m.length);
    expect(m.includes(Buffer.from('veth\0'))).toBe(true);
    expect(m.includes(Buffer.from('vbabc\0'))).toBe(true);
    expect(m.includes(Buffer.from([2, 0x42, 0x0a, 0x57, 0, 2]))).toBe(true);
    const fd = Buffer.alloc(8);
    fd.writeUInt16LE(8, 0);
    fd.writeUInt16LE(28, 2); // IFLA_NET_NS_FD
    fd.writeUInt32LE(42, 4);
    expect(m.includes(fd)).toBe(true);
  });

  it('a default route names the gateway and the interface', () => {
    const m = defaultRouteMessage(5, '10.87.0.1', 9);
    expect(m.readUInt16LE(4)).toBe(24);
    expect([m[16], m[17], m[20], m[23]]).toEqual([2, 0, 254, 1]);
    expect(m.includes(Buffer.from([10, 87, 0, 1]))).toBe(true);
  });

  it('reads acks, link replies and errors for its own sequence number only', () => {
    const reply = (type: number, seq: number, value: number) => {
      const b = Buffer.alloc(36);
      b.writeUInt32LE(36, 0);
      b.writeUInt16LE(type, 4);
      b.writeUInt32LE(seq, 8);
      b.writeInt32LE(value, type === 2 ? 16 : 20);
      return b;
    };
    expect(parseReply(reply(2, 4, 0), 36, 4, 'x')).toEqual({});
    expect(parseReply(reply(16, 5, 9), 36, 5, 'x')).toEqual({ ifindex: 9 });
    expect(() => parseReply(reply(2, 6, -17), 36, 6, 'address')).toThrow(/address: exists/);
    expect(() => parseReply(reply(2, 6, 0), 36, 7, 'x')).toThrow(/no answer/);
  });
});
