// The container's side of a veth pair, configured over rtnetlink from inside its namespace
// without starting a process (`ip` through nsenter cost two process starts, 20-40 ms under
// load here: bench/net.ts). The messages are the ones `ip` sends for the same lines in
// containerSideLines(): the pair made from inside with eth0 up and its peer sent to our own
// namespace (down, off the bridge), lo up, the addresses, the default routes. Encoding is
// pure (rtnl.test.ts); the socket is sys/netns.ts's.
import ipaddr from 'ipaddr.js';
import { NetnsNetlink } from '../sys/netns.ts';
import { isValidAddress, macBytes } from './addr.ts';
import { NetError } from './errors.ts';
import type { VethSpec } from './links.ts';

const NETLINK_ROUTE = 0;
const NLMSG_ERROR = 2;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RTN_UNICAST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;

const align4 = (n: number): number => (n + 3) & ~3;

/** A netlink attribute: 2-byte length, 2-byte type, payload, padded to 4. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** An address's bytes (IPv4 or IPv6, in network order). */
export function addrBytes(ip: string): Buffer {
  if (!isValidAddress(ip)) throw new NetError('invalid_argument', `not an IP address: ${ip}`);
  return Buffer.from(ipaddr.parse(ip).toByteArray());
}

function ifinfomsg(index: number, flags: number, change: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** A whole message: header (length, type, flags, seq, port 0) and body. */
export function message(type: number, flags: number, seq: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags | NLM_F_REQUEST, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, payload]);
}

/** RTM_NEWLINK: eth0 (up) with its veth peer made in the namespace `homeNsFd` (down). */
export function vethMessage(v: VethSpec, homeNsFd: number, seq: number): Buffer {
  const peer = Buffer.concat([
    ifinfomsg(0, 0, 0),
    attr(IFLA_IFNAME, cstr(v.hostIf)),
    attr(IFLA_MTU, u32(v.mtu)),
    attr(IFLA_NET_NS_FD, u32(homeNsFd)),
  ]);
  const linkinfo = Buffer.concat([
    attr(IFLA_INFO_KIND, cstr('veth')),
    attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer)),
  ]);
  return message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq, [
    ifinfomsg(0, IFF_UP, IFF_UP),
    attr(IFLA_IFNAME, cstr('eth0')),
    attr(IFLA_MTU, u32(v.mtu)),
    attr(IFLA_ADDRESS, macBytes(v.mac)),
    attr(IFLA_LINKINFO, linkinfo),
  ]);
}

export function linkUpMessage(index: number, seq: number): Buffer {
  return message(RTM_NEWLINK, NLM_F_ACK, seq, [ifinfomsg(index, IFF_UP, IFF_UP)]);
}

export function getLinkMessage(name: string, seq: number): Buffer {
  return message(RTM_GETLINK, 0, seq, [ifinfomsg(0, 0, 0), attr(IFLA_IFNAME, cstr(name))]);
}

export function addrMessage(index: number, ip: string, prefixLength: number, seq: number): Buffer {
  const v6 = !isValidAddress(ip, 4);
  const ifa = Buffer.alloc(8);
  ifa.writeUInt8(v6 ? AF_INET6 : AF_INET, 0);
  ifa.writeUInt8(prefixLength, 1);
  ifa.writeUInt8(v6 ? IFA_F_NODAD : 0, 2);
  ifa.writeUInt32LE(index, 4);
  const a = addrBytes(ip);
  return message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq, [
    ifa,
    attr(IFA_LOCAL, a),
    attr(IFA_ADDRESS, a),
    ...(v6 ? [attr(IFA_FLAGS, u32(IFA_F_NODAD))] : []),
  ]);
}

export function defaultRouteMessage(index: number, gateway: string, seq: number): Buffer {
  const v6 = !isValidAddress(gateway, 4);
  const rt = Buffer.alloc(12);
  rt.writeUInt8(v6 ? AF_INET6 : AF_INET, 0);
  rt.writeUInt8(RT_TABLE_MAIN, 4);
  rt.writeUInt8(RTPROT_BOOT, 5);
  rt.writeUInt8(0, 6); // RT_SCOPE_UNIVERSE
  rt.writeUInt8(RTN_UNICAST, 7);
  return message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq, [
    rt,
    attr(RTA_GATEWAY, addrBytes(gateway)),
    attr(RTA_OIF, u32(index)),
  ]);
}

/** The answer to request `seq`: 0 (an ack), the ifindex of a link reply, or a NetError. */
export function parseReply(buf: Buffer, n: number, seq: number, what: string): { ifindex?: number } {
  let off = 0;
  while (off + 16 <= n) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    const s = buf.readUInt32LE(off + 8);
    if (len < 16) break;
    if (s === seq) {
      if (type === NLMSG_ERROR) {
        const err = -buf.readInt32LE(off + 16);
        if (err === 0) return {};
        throw new NetError(
          err === 17 ? 'conflict' : 'kernel',
          `${what}: ${errnoText(err)} (rtnetlink errno ${err})`,
        );
      }
      if (type === RTM_NEWLINK) return { ifindex: buf.readInt32LE(off + 16 + 4) };
    }
    off += align4(len);
  }
  throw new NetError('kernel', `${what}: no answer from the kernel`);
}

function errnoText(err: number): string {
  return (
    {
      1: 'not permitted',
      2: 'no such object',
      17: 'exists',
      19: 'no such device',
      22: 'invalid',
      95: 'not supported',
    }[err] ?? 'failed'
  );
}

/** Makes and configures the container's end from inside its namespace, in-process. */
export function configureContainerSide(v: VethSpec): void {
  const nl = new NetnsNetlink(v.netns, NETLINK_ROUTE);
  const buf = Buffer.alloc(16 * 1024);
  let seq = 0;
  const ask = (msg: (seq: number) => Buffer, what: string): { ifindex?: number } => {
    seq++;
    nl.send(msg(seq));
    return parseReply(buf, nl.recv(buf), seq, what);
  };
  try {
    ask((s) => vethMessage(v, nl.homeNsFd, s), `veth eth0/${v.hostIf}`);
    ask((s) => linkUpMessage(1, s), 'lo up');
    const { ifindex } = ask((s) => getLinkMessage('eth0', s), 'eth0');
    if (!ifindex) throw new NetError('kernel', 'eth0: the kernel did not say its index');
    ask((s) => linkUpMessage(ifindex, s), 'eth0 up');
    ask((s) => addrMessage(ifindex, v.ip, v.prefixLength, s), `address ${v.ip}`);
    if (v.ip6) ask((s) => addrMessage(ifindex, v.ip6!, v.prefixLength6 ?? 64, s), `address ${v.ip6}`);
    ask((s) => defaultRouteMessage(ifindex, v.gateway, s), `default route via ${v.gateway}`);
    if (v.ip6 && v.gateway6)
      ask((s) => defaultRouteMessage(ifindex, v.gateway6!, s), `default route via ${v.gateway6}`);
  } finally {
    nl.close();
  }
}
