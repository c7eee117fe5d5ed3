import { closeSync, openSync } from 'node:fs';
import * as sys from '@berth/runtime/sys';
import { conflict } from '../errors.ts';

/** A `container:NAME` peer's network namespace, held open by berthd until `close()`. */
export interface PeerNetns {
  /** /proc/<berthd>/fd/<n>: names the namespace itself, not whichever process has the pid. */
  path: string;
  close(): void;
}

/**
 * Opens the network namespace of `pid`, the peer's init, and proves it is that init's.
 * `/proc/<pid>/ns/net` handed to the runtime as it is would be opened later, by the helper: a
 * peer that died and whose pid was reused meanwhile would put the dependent in another
 * process's namespace. Here a pidfd is taken first; `isPeerInit()` (the runtime's state: the
 * pid's start time is the one recorded for the init) must hold after it, and the pidfd must
 * still be alive after the namespace is opened: then the pidfd's process held the pid all
 * along, was the init, and the namespace opened is its. Anything else is a CONFLICT.
 */
export function openPeerNetns(pid: number, isPeerInit: () => boolean, what: string): PeerNetns {
  const gone = () => conflict(`${what} exited while its network namespace was being joined; try again`);
  let pidfd: number;
  try {
    pidfd = sys.pidfdOpen(pid);
  } catch {
    throw gone();
  }
  try {
    if (!isPeerInit()) throw gone();
    let fd: number;
    try {
      fd = openSync(`/proc/${pid}/ns/net`, 'r');
    } catch {
      throw gone();
    }
    try {
      sys.pidfdSendSignal(pidfd, 0);
    } catch {
      closeSync(fd);
      throw gone();
    }
    let open = true;
    const close = () => {
      // Once only: a second close could hit a later file given the same number.
      if (open) closeSync(fd);
      open = false;
    };
    return { path: `/proc/${process.pid}/fd/${fd}`, close };
  } finally {
    sys.closeFd(pidfd);
  }
}
