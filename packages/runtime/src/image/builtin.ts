// The built-in minimal image, made offline from the host's busybox-static (Debian package
// busybox-static), so a fresh host can run its first container with no network. The layer is
// deterministic: the same busybox binary always gives the same image digest.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ImageError } from './errors.ts';
import type { ImageRecord } from './records.ts';
import type { ImageStore, OperationOptions } from './store.ts';
import { type MemoryEntry, tarFromEntries } from './tarball.ts';

export const BUILTIN_REFERENCE = 'berth.local/minimal:latest';
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

function isStatic(path: string): boolean {
  // A static ELF has no PT_INTERP program header; `busybox` from busybox-static is static.
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

export function findBusybox(): string {
  const path = BUSYBOX_CANDIDATES.find((p) => existsSync(p) && isStatic(p));
  if (!path)
    throw new ImageError(
      'build_failed',
      'the built-in image needs a static busybox (install the Debian package busybox-static)',
    );
  return path;
}

export async function builtinLayer(busybox = findBusybox()): Promise<Buffer> {
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[a-z/]+\/[^/]+$/.test(l) && l !== 'bin/busybox');
  const dirs = [
    'bin',
    'dev',
    'etc',
    'home',
    'proc',
    'root',
    'run',
    'sbin',
    'sys',
    'tmp',
    'usr',
    'usr/bin',
    'usr/sbin',
    'var',
  ];
  const entries: MemoryEntry[] = dirs.map((d) => ({
    name: `${d}/`,
    type: 'directory',
    mode: d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755,
  }));
  entries.push({ name: 'bin/busybox', type: 'file', content: readFileSync(busybox), mode: 0o755 });
  for (const a of [...new Set(applets)].sort())
    entries.push({ name: a, type: 'symlink', linkname: '/bin/busybox' });
  entries.push(
    {
      name: 'etc/passwd',
      type: 'file',
      content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    },
    { name: 'etc/group', type: 'file', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { name: 'etc/hostname', type: 'file', content: 'berth\n' },
    { name: 'etc/os-release', type: 'file', content: 'NAME="Berth minimal (busybox)"\nID=berth-minimal\n' },
  );
  return tarFromEntries(entries, new Date(Date.UTC(2020, 0, 1)));
}

/** Adds (or finds) the built-in minimal image. */
export async function ensureBuiltinImage(store: ImageStore, op: OperationOptions = {}): Promise<ImageRecord> {
  const layer = await builtinLayer();
  return store.addLocalImage(
    {
      layers: [layer],
      reference: BUILTIN_REFERENCE,
      source: 'builtin',
      created: new Date(Date.UTC(2020, 0, 1)).toISOString(),
      config: {
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/',
        Labels: { 'org.opencontainers.image.title': 'Berth minimal (busybox)' },
      },
    },
    op,
  );
}
