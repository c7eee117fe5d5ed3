import { execFile } from 'node:child_process';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lstatSync,
  openSync,
  readlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentError, invalid } from '../errors.ts';

// Files into and out of a container's root without ever leaving it: paths resolve as if the
// root were "/" (RESOLVE_IN_ROOT): `..` stops at the root, absolute symlink targets restart
// at the root, relative ones resolve from their directory, at most 40 links. The last
// component is never followed (O_NOFOLLOW): pushing onto a symlink is refused.

const run = promisify(execFile);
const MAX_LINKS = 40;

/** The host path of `path` inside `root`, with every symlink on the way resolved inside `root`. */
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
      const host = join(root, ...stack, part);
      let st: ReturnType<typeof lstatSync> | undefined;
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
  return join(root, ...walk([], path.split('/')));
}

export interface PushOptions {
  mode: number;
  /** Host uid/gid (already shifted into the container's id range). */
  uid: number;
  gid: number;
}

export function pushFile(root: string, path: string, data: Buffer, o: PushOptions): void {
  const target = resolveInRoot(root, path);
  let fd: number;
  try {
    fd = openSync(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      o.mode,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new AgentError('CONFLICT', `cannot write ${path}: it is a symbolic link`);
    if (code === 'ENOENT')
      throw new AgentError('NOT_FOUND', `${path}: its directory does not exist in the container`);
    if (code === 'EISDIR') throw new AgentError('CONFLICT', `cannot write ${path}: it is a directory`);
    throw e;
  }
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fchownSync(fd, o.uid, o.gid);
    fchmodSync(fd, o.mode);
  } finally {
    closeSync(fd);
  }
}

export async function pullPath(
  root: string,
  path: string,
): Promise<{ kind: 'file' | 'directory'; data: Buffer; mode: number }> {
  const target = resolveInRoot(root, path, true);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(target);
  } catch {
    throw new AgentError('NOT_FOUND', `${path} not found in the container`);
  }
  if (st.isDirectory()) {
    // tar stores symlinks as symlinks (never follows them) and stays on this directory.
    const { stdout } = await run('tar', ['-C', target, '--one-file-system', '-cf', '-', '.'], {
      encoding: 'buffer',
      maxBuffer: 256 << 20,
    });
    return { kind: 'directory', data: stdout, mode: st.mode & 0o7777 };
  }
  if (!st.isFile()) throw new AgentError('CONFLICT', `${path} is neither a file nor a directory`);
  const fd = openSync(target, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const { readFileSync } = await import('node:fs');
    return { kind: 'file', data: readFileSync(fd), mode: st.mode & 0o7777 };
  } finally {
    closeSync(fd);
  }
}
