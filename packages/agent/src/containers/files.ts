import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import * as sys from '@berth/runtime/sys';
import * as tar from 'tar-stream';
import { AgentError, invalid } from '../errors.ts';

// Files into and out of a container's root without ever leaving it. Every path is resolved by
// the kernel with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from a handle on the root:
// `..` stops at the root, absolute symlinks restart at it, /proc magic links are refused, and
// nothing is checked in user space and then used (a running container may swap a directory
// for a symlink at any moment). Below a resolved directory, a tar's entries and a pulled
// tree's children are opened one name at a time with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS.

const { RESOLVE, O_PATH } = sys;
const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
const ONE_NAME = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;
const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = constants;
/** What a pull may return (base64 in one response). */
const MAX_PULL_BYTES = 64 << 20;

function errnoOf(e: unknown): string | undefined {
  if (e instanceof sys.SysError) return e.code;
  return (e as NodeJS.ErrnoException).code;
}

function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function openRoot(root: string): number {
  return openSync(root, O_PATH | O_DIRECTORY);
}

/** openat2 from the root, `path` as the container sees it. */
function openInRoot(rootFd: number, path: string, flags: number, mode = 0): number {
  return sys.openat2(rootFd, path, { flags, mode, resolve: IN_ROOT });
}

/** A file's content inside the root (symlinks followed inside it), at most `max` bytes; undefined if absent. */
export function readFileInRoot(root: string, path: string, max = 1 << 20): Buffer | undefined {
  try {
    return withFd(openRoot(root), (r) =>
      withFd(openInRoot(r, path, O_RDONLY), (fd) => {
        if (!fstatSync(fd).isFile()) return undefined;
        const b = Buffer.alloc(max);
        let n = 0;
        for (let got = -1; got !== 0 && n < max; n += got) got = readSync(fd, b, n, max - n, null);
        return b.subarray(0, n);
      }),
    );
  } catch {
    return undefined;
  }
}

export function isDirectoryInRoot(root: string, path: string): boolean {
  try {
    return withFd(openRoot(root), (r) => withFd(openInRoot(r, path, O_PATH | O_DIRECTORY), () => true));
  } catch {
    return false;
  }
}

export interface PushOptions {
  mode: number;
  /** Host uid/gid (already shifted into the container's id range). */
  uid: number;
  gid: number;
}

function refusal(path: string, e: unknown, verb: 'write' | 'read'): unknown {
  switch (errnoOf(e)) {
    case 'ELOOP':
      return new AgentError('CONFLICT', `cannot ${verb} ${path}: it is a symbolic link`);
    case 'ENOENT':
      return new AgentError(
        'NOT_FOUND',
        verb === 'write'
          ? `${path}: its directory does not exist in the container`
          : `${path} not found in the container`,
      );
    case 'EISDIR':
      return new AgentError('CONFLICT', `cannot ${verb} ${path}: it is a directory`);
    case 'ENOTDIR':
      return new AgentError('CONFLICT', `cannot ${verb} ${path}: a part of it is not a directory`);
    case 'EXDEV':
      return new AgentError('CONFLICT', `cannot ${verb} ${path}: it leads out of the container's root`);
    default:
      return e;
  }
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** Writes one file; the last component is never followed (pushing onto a symlink is refused). */
export function pushFile(root: string, path: string, data: Buffer, o: PushOptions): void {
  withFd(openRoot(root), (r) => {
    let fd: number;
    try {
      fd = openInRoot(r, path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, o.mode);
    } catch (e) {
      throw refusal(path, e, 'write');
    }
    withFd(fd, () => {
      if (!fstatSync(fd).isFile()) throw new AgentError('CONFLICT', `cannot write ${path}: it is not a file`);
      writeAll(fd, data);
      fchownSync(fd, o.uid, o.gid);
      fchmodSync(fd, o.mode);
    });
  });
}

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, every symlink on the way resolved inside `root`, in
 * user space. Only for a root no process runs in yet (before start: the network files); a
 * running container could swap a directory between this and the use, so everything else
 * goes through openat2 above.
 */
export function resolveInRoot(root: string, path: string, followLast = false): string {
  let links = 0;
  const walk = (stack: string[], rest: string[]): string[] => {
    while (rest.length > 0) {
      const part = rest.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        stack.pop();
        continue;
      }
      const host = posix.join(root, ...stack, part);
      let st: Stats | undefined;
      try {
        st = lstatSync(host);
      } catch {
        st = undefined;
      }
      if (st?.isSymbolicLink() && (rest.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw invalid('path', `too many symbolic links in ${path}`);
        const target = readlinkSync(host);
        const next = target.startsWith('/') ? [] : stack;
        return walk([...next], [...target.split('/'), ...rest]);
      }
      stack.push(part);
    }
    return stack;
  };
  return posix.join(root, ...walk([], path.split('/')));
}

// ---- directories as tars ----------------------------------------------------------------

interface TarItem {
  header: tar.Header;
  data: Buffer;
}

async function readTar(data: Buffer): Promise<TarItem[]> {
  const extract = tar.extract();
  const items: TarItem[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      items.push({ header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(data);
  try {
    await reading;
  } catch (e) {
    throw invalid('tar', (e as Error).message);
  }
  return items;
}

/** A tar member's path relative to the target directory, or a refusal naming it. */
function memberPath(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/')) throw invalid('tar', `member ${JSON.stringify(name)} has an absolute path`);
  if (parts.includes('..')) throw invalid('tar', `member ${JSON.stringify(name)} contains ".."`);
  if (name.includes('\0')) throw invalid('tar', `member ${JSON.stringify(name)} contains NUL`);
  return parts;
}

export interface TarPushOptions {
  /** Container ids → host ids (the container's range). */
  hostIds(uid: number, gid: number): { uid: number; gid: number };
  /** Mode of the target directory when it is created. */
  mode: number;
}

/**
 * Unpacks a tar into the directory `path` (made if missing), keeping each member's mode and
 * owner (container ids, < 65536). Every member is checked before anything is written: absolute
 * names, `..`, devices and hard links to outside the tar are refused. Members are resolved in
 * the root, so a symlink the tar (or the container) made cannot lead a later member out.
 */
export async function pushTar(root: string, path: string, data: Buffer, o: TarPushOptions): Promise<number> {
  const items = await readTar(data);
  for (const { header: h } of items) {
    memberPath(h.name);
    if (!['file', 'directory', 'symlink', 'link', 'contiguous-file'].includes(h.type ?? 'file'))
      throw invalid(
        'tar',
        `member ${JSON.stringify(h.name)} is a ${h.type}: only files, directories and links`,
      );
    for (const [k, v] of [
      ['uid', h.uid],
      ['gid', h.gid],
    ] as const)
      if (v !== undefined && (v < 0 || v > 65_535))
        throw invalid(
          'tar',
          `member ${JSON.stringify(h.name)} has ${k} ${v} (a container id is below 65536)`,
        );
    if (h.type === 'link') memberPath(h.linkname ?? '');
  }
  return withFd(openRoot(root), (r) => {
    closeSync(openDir(r, path, o.mode));
    const base = path.replace(/\/+$/, '');
    let written = 0;
    for (const { header: h, data: content } of items) {
      const parts = memberPath(h.name);
      if (parts.length === 0) {
        // "./": the target directory itself
        if (h.type === 'directory') setDirMeta(r, base || '/', h, o);
        continue;
      }
      const full = `${base}/${parts.join('/')}`;
      const parent = posix.dirname(full);
      const name = posix.basename(full);
      withFd(openDir(r, parent, 0o755), (dir) => {
        const ids = o.hostIds(h.uid ?? 0, h.gid ?? 0);
        const mode = (h.mode ?? 0o644) & 0o7777;
        switch (h.type) {
          case 'directory': {
            try {
              sys.mkdirat(dir, name, 0o700);
            } catch (e) {
              if (errnoOf(e) !== 'EEXIST') throw e;
            }
            setDirMeta(r, full, h, o);
            break;
          }
          case 'symlink':
            replaceName(dir, name);
            sys.symlinkat(h.linkname ?? '', dir, name);
            sys.lchownat(dir, name, ids.uid, ids.gid);
            break;
          case 'link': {
            const target = `${base}/${memberPath(h.linkname ?? '').join('/')}`;
            replaceName(dir, name);
            withFd(openInRoot(r, target, O_PATH | O_NOFOLLOW), (t) => sys.linkFd(t, dir, name));
            break;
          }
          default: {
            let fd: number;
            try {
              fd = sys.openat2(dir, name, {
                flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
                mode: 0o600,
                resolve: ONE_NAME,
              });
            } catch (e) {
              throw refusal(full, e, 'write');
            }
            withFd(fd, () => {
              if (!fstatSync(fd).isFile())
                throw new AgentError('CONFLICT', `cannot write ${full}: it is not a file`);
              writeAll(fd, content);
              fchownSync(fd, ids.uid, ids.gid);
              fchmodSync(fd, mode);
              if (h.mtime) futimesSync(fd, h.mtime, h.mtime);
            });
            written += content.length;
          }
        }
      });
    }
    return written;
  });
}

/** Removes a non-directory at `name` (tar replaces what is there). */
function replaceName(dir: number, name: string): void {
  try {
    sys.unlinkat(dir, name);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

function setDirMeta(r: number, path: string, h: tar.Header, o: TarPushOptions): void {
  withFd(openInRoot(r, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), (fd) => {
    const ids = o.hostIds(h.uid ?? 0, h.gid ?? 0);
    fchownSync(fd, ids.uid, ids.gid);
    fchmodSync(fd, (h.mode ?? 0o755) & 0o7777);
  });
}

/**
 * mkdir -p inside the root, and the directory's fd (the caller closes it): the one opened to
 * find it, or to fix a new one's owner. A new directory gets `mode` and its parent's owner.
 */
function openDir(r: number, path: string, mode: number): number {
  const parent = posix.dirname(path);
  try {
    return openInRoot(r, path, O_PATH | O_DIRECTORY);
  } catch (e) {
    // The root itself missing: nothing to make it in.
    if (errnoOf(e) !== 'ENOENT' || parent === path) throw refusal(path, e, 'write');
  }
  return withFd(openDir(r, parent, 0o755), (dir) => {
    const st = fstatSync(dir);
    try {
      sys.mkdirat(dir, posix.basename(path), mode);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
    }
    let fd: number;
    try {
      fd = openInRoot(r, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (e) {
      if (errnoOf(e) === 'ELOOP' || errnoOf(e) === 'ENOTDIR')
        throw new AgentError(
          'CONFLICT',
          `cannot write under ${path}: it is a symbolic link that leads to no directory in the container`,
        );
      throw refusal(path, e, 'write');
    }
    // The new directory belongs to whoever owns its parent in the container (not to host root).
    try {
      fchownSync(fd, st.uid, st.gid);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  });
}

// ---- pull ------------------------------------------------------------------------------

export async function pullPath(
  root: string,
  path: string,
  containerIds: (uid: number, gid: number) => { uid: number; gid: number },
): Promise<{ kind: 'file' | 'directory'; data: Buffer; mode: number }> {
  const rootFd = openRoot(root);
  try {
    let fd: number;
    try {
      fd = openInRoot(rootFd, path, O_RDONLY);
    } catch (e) {
      throw refusal(path, e, 'read');
    }
    return await (async () => {
      try {
        const st = fstatSync(fd);
        if (st.isDirectory()) {
          const data = await packDir(fd, st, containerIds);
          return { kind: 'directory' as const, data, mode: st.mode & 0o7777 };
        }
        if (!st.isFile()) throw new AgentError('CONFLICT', `${path} is neither a file nor a directory`);
        if (st.size > MAX_PULL_BYTES)
          throw new AgentError('CONFLICT', `${path} is larger than ${MAX_PULL_BYTES >> 20} MiB`);
        return { kind: 'file' as const, data: readFileSync(fd), mode: st.mode & 0o7777 };
      } finally {
        closeSync(fd);
      }
    })();
  } finally {
    closeSync(rootFd);
  }
}

/** A tar of the directory open as `dirFd`: names relative to it, owners as the container sees them. */
async function packDir(
  dirFd: number,
  dirSt: Stats,
  containerIds: (uid: number, gid: number) => { uid: number; gid: number },
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collecting = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  let total = 0;
  const links = new Map<string, string>();
  const entry = (header: Partial<tar.Header> & { name: string }, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      total += body?.length ?? 0;
      if (total > MAX_PULL_BYTES)
        return reject(
          new AgentError('CONFLICT', `the directory holds more than ${MAX_PULL_BYTES >> 20} MiB`),
        );
      pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  const meta = (name: string, st: Stats) => {
    const ids = containerIds(st.uid, st.gid);
    return { name, mode: st.mode & 0o7777, uid: ids.uid, gid: ids.gid, mtime: st.mtime };
  };
  const walk = async (fd: number, rel: string) => {
    for (const name of readdirSync(`/proc/self/fd/${fd}`).sort()) {
      const r = `${rel}/${name}`;
      // One name under a pinned directory: never a symlink followed, never outside it.
      const child = sys.openat2(fd, name, { flags: O_PATH | O_NOFOLLOW, resolve: ONE_NAME });
      const st = withFd(child, (c) => fstatSync(c));
      if (st.dev !== dirSt.dev) continue; // a mount point: stay on this filesystem
      if (st.isSymbolicLink()) {
        await entry({ ...meta(r, st), type: 'symlink', linkname: sys.readlinkat(fd, name) });
      } else if (st.isDirectory()) {
        await entry({ ...meta(`${r}/`, st), type: 'directory' });
        const sub = sys.openat2(fd, name, { flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW, resolve: ONE_NAME });
        try {
          await walk(sub, r);
        } finally {
          closeSync(sub);
        }
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first) {
          await entry({ ...meta(r, st), type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) links.set(key, r);
        const body = withFd(sys.openat2(fd, name, { flags: O_RDONLY | O_NOFOLLOW, resolve: ONE_NAME }), (f) =>
          readFileSync(f),
        );
        await entry({ ...meta(r, st), type: 'file', size: body.length }, body);
      }
      // sockets, fifos and devices are not copied out
    }
  };
  try {
    // Names as `tar -C dir -cf - .` writes them: "./", then "./a", "./a/b", ...
    await entry({ ...meta('./', dirSt), type: 'directory' });
    await walk(dirFd, '.');
    pack.finalize();
  } catch (e) {
    pack.destroy();
    throw e;
  }
  await collecting;
  return Buffer.concat(chunks);
}
