import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { closeFd } from './index.ts';
import { check, libc } from './libc.ts';

// A netlink socket inside another network namespace, made without starting a process: the
// calling thread enters the namespace (setns with CLONE_NEWNET changes only the calling
// thread, and is allowed in a multithreaded process, unlike a user or mount namespace), makes
// the socket, and comes straight back; a netlink socket stays bound to the namespace it was
// made in. Everything between the two setns calls is synchronous, so no JavaScript runs (and
// no other socket is made by this thread) while the thread is away.

const CLONE_NEWNET = 0x40000000;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;

interface Libc {
  setns: (fd: number, nstype: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  send: (fd: number, buf: Buffer, len: number, flags: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
}

let fns: Libc | undefined;
function lib(): Libc {
  if (fns) return fns;
  const l = libc();
  fns = {
    setns: l.func('int setns(int fd, int nstype)'),
    socket: l.func('int socket(int domain, int type, int protocol)'),
    send: l.func('long send(int fd, void *buf, size_t len, int flags)'),
    recv: l.func('long recv(int fd, void *buf, size_t len, int flags)'),
  };
  return fns;
}

/** A netlink socket of `protocol` in the network namespace at `nsPath` (e.g. /proc/PID/ns/net). */
export class NetnsNetlink {
  readonly fd: number;
  /** The caller's own network namespace, open (for IFLA_NET_NS_FD: "move this end home"). */
  readonly homeNsFd: number;

  constructor(nsPath: string, protocol: number) {
    const c = lib();
    this.homeNsFd = openSync('/proc/thread-self/ns/net', 'r');
    let nsFd = -1;
    try {
      nsFd = openSync(nsPath, 'r');
      check(c.setns(nsFd, CLONE_NEWNET), `setns(${nsPath})`);
      try {
        // check() reads errno at once, before the setns back can change it.
        this.fd = check(c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol), 'socket(AF_NETLINK)');
      } finally {
        if (c.setns(this.homeNsFd, CLONE_NEWNET) < 0) {
          // Never go on in a container's namespace: every socket made after this would be its.
          console.error(`setns back to the agent's network namespace failed (errno ${koffi.errno()})`);
          process.abort();
        }
      }
    } catch (e) {
      closeSync(this.homeNsFd);
      throw e;
    } finally {
      if (nsFd >= 0) closeSync(nsFd);
    }
  }

  send(msg: Buffer): void {
    check(lib().send(this.fd, msg, msg.length, 0), 'send(netlink)');
  }

  /** One datagram, without waiting: rtnetlink answers within send(), so a missing answer is
   * an error (EAGAIN), never a hang. */
  recv(buf: Buffer): number {
    return check(lib().recv(this.fd, buf, buf.length, MSG_DONTWAIT), 'recv(netlink)');
  }

  close(): void {
    closeFd(this.fd);
    closeSync(this.homeNsFd);
  }
}
