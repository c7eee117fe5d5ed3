import * as nodefs from 'node:fs';
import { errnoCode } from './errors.ts';

// The one read/write seam between the cgroup code and the kernel's files. Drivers never touch
// node:fs; tests inject a recording wrapper or point the host implementation at a temporary
// directory laid out like a cgroupfs.
//
// Synchronous on purpose: cgroupfs reads and writes never touch a disk, and the promise API of
// node:fs costs ~30x more CPU per file (measured: 440 ms vs 11 ms for one round of 3000 reads),
// which matters for sampling stats of hundreds of containers every second.

export interface CgroupFs {
  /** The whole content of a file. Throws the errno error (ENOENT, ...) unchanged. */
  read(path: string): string;
  /** One write(2) of `value` (cgroup files take one value or rule per write). */
  write(path: string, value: string): void;
  exists(path: string): boolean;
  /** Create one directory; an existing one is fine. */
  mkdir(path: string): void;
  /** Remove one (cgroup) directory. */
  rmdir(path: string): void;
  /** Names of the sub-directories (child cgroups) of `path`. */
  listDirs(path: string): string[];
  /** Call `onChange` when the kernel signals a change of the file (inotify); returns a stop function. */
  watch(path: string, onChange: () => void): () => void;
}

export interface HostCgroupFsOptions {
  /** How many files to keep open for re-reading with pread (default: half the soft RLIMIT_NOFILE, at most 65536). */
  maxOpenFiles?: number;
}

/**
 * The real files. Reads keep the file open and re-read it from offset 0 with pread: kernfs
 * regenerates a cgroup file's content on every read at offset 0, so one syscall per sample
 * instead of open+read+close (the stat files regenerate correctly; cgroup.procs does not, see
 * read()). The cache is bounded (least recently opened closes first) and
 * forgets a directory's files when the directory is removed.
 */
export function hostCgroupFs(options: HostCgroupFsOptions = {}): CgroupFs & { close(): void } {
  const maxOpen = options.maxOpenFiles ?? defaultMaxOpen();
  const fds = new Map<string, number>();
  // The open files of each directory, so removing a cgroup closes its files without a scan.
  const byDir = new Map<string, Set<string>>();
  const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/'));
  let buf = Buffer.allocUnsafe(64 * 1024);

  const readFd = (fd: number): string => {
    let n = nodefs.readSync(fd, buf, 0, buf.length, 0);
    while (n === buf.length) {
      buf = Buffer.allocUnsafe(buf.length * 2);
      n = nodefs.readSync(fd, buf, 0, buf.length, 0);
    }
    return buf.toString('latin1', 0, n);
  };
  const forget = (path: string) => {
    const fd = fds.get(path);
    if (fd === undefined) return;
    fds.delete(path);
    byDir.get(dirOf(path))?.delete(path);
    try {
      nodefs.closeSync(fd);
    } catch {
      // Already closed: nothing to release.
    }
  };

  return {
    read(path) {
      // Membership lists keep an iterator per open file, and re-reading one from offset 0 shows
      // the old members (measured on 6.18): those are read fresh every time.
      if (path.endsWith('/cgroup.procs') || path.endsWith('/cgroup.threads') || path.endsWith('/tasks')) {
        return nodefs.readFileSync(path, 'latin1');
      }
      let fd = fds.get(path);
      if (fd !== undefined) {
        try {
          return readFd(fd);
        } catch (err) {
          // The cgroup went away under us (ENODEV) or the fd went stale: reopen once.
          forget(path);
          if (errnoCode(err) !== 'ENODEV' && errnoCode(err) !== 'EBADF') throw err;
        }
      }
      try {
        fd = nodefs.openSync(path, 'r');
      } catch (err) {
        if (errnoCode(err) !== 'EMFILE' || fds.size === 0) throw err;
        // Out of descriptors: give back half of the cache and try once more.
        for (const p of [...fds.keys()].slice(0, Math.ceil(fds.size / 2))) forget(p);
        fd = nodefs.openSync(path, 'r');
      }
      if (fds.size >= maxOpen) {
        const oldest = fds.keys().next().value;
        if (oldest !== undefined) forget(oldest);
      }
      fds.set(path, fd);
      const dir = dirOf(path);
      let open = byDir.get(dir);
      if (!open) {
        open = new Set();
        byDir.set(dir, open);
      }
      open.add(path);
      return readFd(fd);
    },
    write(path, value) {
      const fd = nodefs.openSync(path, 'w');
      try {
        nodefs.writeSync(fd, value);
      } finally {
        nodefs.closeSync(fd);
      }
    },
    exists(path) {
      return nodefs.existsSync(path);
    },
    mkdir(path) {
      try {
        nodefs.mkdirSync(path);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
        return;
      }
      // 0755 whatever the process umask (berthd's is 077): a container's own processes pass
      // through it, and a pool makes directories at any time, outside a caller's umask window.
      nodefs.chmodSync(path, 0o755);
    },
    rmdir(path) {
      for (const p of [...(byDir.get(path) ?? [])]) forget(p);
      byDir.delete(path);
      nodefs.rmdirSync(path);
    },
    listDirs(path) {
      return nodefs
        .readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    },
    watch(path, onChange) {
      const w = nodefs.watch(path, { persistent: false }, () => onChange());
      w.on('error', () => w.close());
      return () => w.close();
    },
    close() {
      for (const p of [...fds.keys()]) forget(p);
    },
  };
}

export interface RecordedWrite {
  path: string;
  value: string;
}

/** Wraps a seam and records every write, in order (for tests that check exactly what is written). */
export function recordingCgroupFs(inner: CgroupFs): CgroupFs & { writes: RecordedWrite[] } {
  const writes: RecordedWrite[] = [];
  return {
    writes,
    read: (p) => inner.read(p),
    write(path, value) {
      inner.write(path, value);
      writes.push({ path, value });
    },
    exists: (p) => inner.exists(p),
    mkdir: (p) => inner.mkdir(p),
    rmdir: (p) => inner.rmdir(p),
    listDirs: (p) => inner.listDirs(p),
    watch: (p, cb) => inner.watch(p, cb),
  };
}

/** Half of this process's soft open-file limit (the rest is for everything else), within [64, 65536]. */
function defaultMaxOpen(): number {
  try {
    const line = nodefs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    if (Number.isFinite(soft)) return Math.max(64, Math.min(65536, Math.floor(soft / 2)));
  } catch {
    // not Linux-like: fall through
  }
  return 512;
}
