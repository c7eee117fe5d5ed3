// koffi binding for eventfd(2), watched on Node's event loop (koffi.node.poll, a uv_poll): the
// cgroup v1 notification API (cgroup.event_control) signals an eventfd when, for instance, a
// memory cgroup goes out of memory (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM
// Control"). Nothing is read or polled while nothing happens.
import { closeSync, openSync, readSync } from 'node:fs';
import koffi from 'koffi';
import { check, libc } from './libc.ts';

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

let eventfdFn: ((initval: number, flags: number) => number) | undefined;
function eventfd(): number {
  eventfdFn ??= libc().func('int eventfd(unsigned int initval, int flags)') as (
    initval: number,
    flags: number,
  ) => number;
  return check(eventfdFn(0, EFD_CLOEXEC | EFD_NONBLOCK), 'eventfd');
}

export interface CgroupEventWatch {
  close(): void;
}

/**
 * Register an eventfd for `targetFile` (e.g. memory.oom_control) with its cgroup: `register`
 * receives the line for cgroup.event_control ("<eventfd> <target fd>[ <args>]") and writes it
 * (through the caller's file seam). `onEvent` runs on the event loop after each signal; the
 * kernel also signals when the cgroup is removed.
 */
export function watchCgroupEvent(
  targetFile: string,
  register: (line: string) => void,
  onEvent: () => void,
  args = '',
): CgroupEventWatch {
  const efd = eventfd();
  let target: number | undefined;
  let handle: { close(): void; unref(): void } | undefined;
  const close = () => {
    handle?.close();
    handle = undefined;
    for (const fd of [efd, target]) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    target = undefined;
  };
  try {
    target = openSync(targetFile, 'r');
    register(`${efd} ${target}${args ? ` ${args}` : ''}`);
    const counter = Buffer.alloc(8);
    handle = koffi.node.poll(efd, { readable: true }, () => {
      try {
        readSync(efd, counter, 0, 8, null); // reset the counter (EAGAIN when already read)
      } catch {
        // nothing to read
      }
      onEvent();
    });
    handle.unref();
  } catch (err) {
    close();
    throw err;
  }
  return { close };
}
