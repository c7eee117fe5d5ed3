import { SpecError } from './config.ts';
import { MS } from './linux.ts';

// mount(8)-style options → the flags, propagation and data string mount(2) takes.

const FLAG_OPTIONS: Record<string, { set?: number; clear?: number }> = {
  ro: { set: MS.RDONLY },
  rw: { clear: MS.RDONLY },
  nosuid: { set: MS.NOSUID },
  suid: { clear: MS.NOSUID },
  nodev: { set: MS.NODEV },
  dev: { clear: MS.NODEV },
  noexec: { set: MS.NOEXEC },
  exec: { clear: MS.NOEXEC },
  sync: { set: MS.SYNCHRONOUS },
  async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC },
  mand: { set: MS.MANDLOCK },
  nomand: { clear: MS.MANDLOCK },
  noatime: { set: MS.NOATIME },
  atime: { clear: MS.NOATIME },
  nodiratime: { set: MS.NODIRATIME },
  diratime: { clear: MS.NODIRATIME },
  relatime: { set: MS.RELATIME },
  norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME },
  nostrictatime: { clear: MS.STRICTATIME },
  lazytime: { set: MS.LAZYTIME },
  nolazytime: { clear: MS.LAZYTIME },
  nosymfollow: { set: MS.NOSYMFOLLOW },
  symfollow: { clear: MS.NOSYMFOLLOW },
  bind: { set: MS.BIND },
  rbind: { set: MS.BIND | MS.REC },
  defaults: {},
};

export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Every option name parseMountOptions recognises (flags and propagation; not fs data). */
export const MOUNT_OPTION_NAMES: string[] = [
  ...Object.keys(FLAG_OPTIONS),
  ...Object.keys(PROPAGATION),
].sort();

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string;
}

export function parseMountOptions(options: string[] = [], field = 'mounts'): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const [i, opt] of options.entries()) {
    const f = FLAG_OPTIONS[opt];
    if (f) {
      flags = (flags | (f.set ?? 0)) & ~(f.clear ?? 0);
    } else if (PROPAGATION[opt] !== undefined) {
      propagation = PROPAGATION[opt];
    } else if (opt === 'remount' || opt.includes(',')) {
      throw new SpecError(`${field}.options[${i}]: option "${opt}" is not allowed`, `${field}.options[${i}]`);
    } else if (/^(idmap|ridmap|rro|rrw|tmpcopyup|copy-symlink|X-mount\.)/.test(opt)) {
      // Extensions other runtimes know; Berth does not implement them, so refuse clearly.
      throw new SpecError(
        `${field}.options[${i}]: option "${opt}" is not supported`,
        `${field}.options[${i}]`,
      );
    } else {
      data.push(opt);
    }
  }
  return { flags, propagation, data: data.join(',') };
}
