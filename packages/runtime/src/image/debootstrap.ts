// Debian system images built with debootstrap from a Debian mirror, cached as images like any
// other: what a team wants for a system container with systemd as init. The tree debootstrap
// makes becomes the unpacked layer directly (no second unpack), and its tar (hashed for the
// diff-id, gzip-compressed) the layer blob, so it exports like a pulled image.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { MNT_DETACH, umount2 } from '../sys/mount.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { MediaType } from './oci.ts';
import { hostPlatform } from './platform.ts';
import type { ImageRecord } from './records.ts';
import { normalizeReference } from './reference.ts';
import { mountsUnder } from './rootfs.ts';
import type { ImageStore, OperationOptions } from './store.ts';
import { packTree } from './tarball.ts';

export interface DebianBuildOptions extends OperationOptions {
  suite?: string;
  mirror?: string;
  variant?: 'minbase' | 'buildd';
  /** Extra packages; by default what a system container needs to boot systemd. */
  include?: string[];
  /** Debian architecture name (amd64, arm64, …); this host's by default. */
  arch?: string;
  /** Reference of the resulting image; berth.local/debian:<suite> by default. */
  reference?: string;
  /** Build even when an image from the same options is cached. */
  rebuild?: boolean;
}

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEFAULT_DEBIAN_INCLUDE = ['systemd', 'systemd-sysv', 'dbus'];
const BUILD_KEY_LABEL = 'dev.berth.debootstrap.key';
const DEB_ARCH: Record<string, string> = {
  amd64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  '386': 'i386',
  ppc64le: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
};

function validate(opts: DebianBuildOptions) {
  const suite = opts.suite ?? 'bookworm';
  const mirror = opts.mirror ?? DEFAULT_DEBIAN_MIRROR;
  const variant = opts.variant ?? 'minbase';
  const include = [...(opts.include ?? DEFAULT_DEBIAN_INCLUDE)].sort();
  const arch = opts.arch ?? DEB_ARCH[hostPlatform().architecture] ?? hostPlatform().architecture;
  const bad = (field: string, v: unknown) =>
    new ImageError('build_failed', `${field}: ${JSON.stringify(v)} is not valid for a debootstrap build`);
  if (!/^[a-z][a-z0-9.-]{0,40}$/.test(suite)) throw bad('suite', suite);
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw bad('mirror', mirror);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('mirror', mirror);
  if (!['minbase', 'buildd'].includes(variant)) throw bad('variant', variant);
  for (const p of include) if (!/^[a-z0-9][a-z0-9+.-]{1,80}$/.test(p)) throw bad('include', p);
  if (!/^[a-z0-9]{2,16}$/.test(arch)) throw bad('arch', arch);
  const reference = normalizeReference(opts.reference ?? `berth.local/debian:${suite}`, 'reference');
  const key = createHash('sha256')
    .update(JSON.stringify({ suite, mirror, variant, include, arch }))
    .digest('hex');
  return { suite, mirror, variant, include, arch, reference, key };
}

/** Unmounts whatever an interrupted debootstrap left mounted inside its target (proc, sys, …). */
function unmountUnder(dir: string) {
  for (const m of mountsUnder(dir)) if (m !== dir) umount2(m, MNT_DETACH);
}

/** Builds (or finds cached) a Debian image with debootstrap, reporting its phases. */
export async function buildDebianImage(
  store: ImageStore,
  opts: DebianBuildOptions = {},
): Promise<ImageRecord> {
  const v = validate(opts);
  const emit = opts.onProgress;
  if (!opts.rebuild) {
    const cached = await store.records.byReference(v.reference);
    if (
      cached &&
      cached.config.labels[BUILD_KEY_LABEL] === v.key &&
      cached.layers.every((l) => store.layers.has(l.diffId))
    ) {
      emit?.({
        type: 'status',
        phase: 'cached',
        message: `${v.reference} is already built from these options`,
      });
      return cached;
    }
  }
  const work = join(store.dir, 'tmp', `debootstrap-${randomBytes(6).toString('hex')}`);
  const target = join(work, 'rootfs');
  const cacheDir = join(store.dir, 'cache', 'debootstrap', `${v.suite}-${v.arch}`);
  mkdirSync(target, { recursive: true, mode: 0o755 });
  mkdirSync(cacheDir, { recursive: true });
  try {
    await runDebootstrap(v, target, cacheDir, opts);
    emit?.({ type: 'status', phase: 'finalize', message: 'cleaning the tree for an image' });
    unmountUnder(target);
    // What belongs to a running system, not to an image: the runtime provides /dev, the
    // resolver and the hostname; systemd makes a machine id on first boot.
    for (const d of ['dev', 'var/cache/apt/archives', 'var/lib/apt/lists', 'tmp', 'run'])
      if (existsSync(join(target, d)))
        for (const f of readdirSync(join(target, d)))
          if (f !== 'partial' && f !== 'lock') rmSync(join(target, d, f), { recursive: true, force: true });
    rmSync(join(target, 'etc/resolv.conf'), { force: true });
    writeFileSync(join(target, 'etc/hostname'), 'debian\n');
    if (existsSync(join(target, 'etc/machine-id'))) truncateSync(join(target, 'etc/machine-id'));
    emit?.({ type: 'status', phase: 'pack', message: 'packing the layer' });
    const layer = await packTreeLayer(store, target, opts);
    emit?.({ type: 'status', phase: 'commit', message: 'recording the image' });
    store.layers.adopt(layer.diffId, target, {
      size: layer.contentBytes,
      tarSize: layer.tarSize,
      entries: layer.entries,
      skippedDevices: [],
    });
    return await store.addManifest(
      {
        layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
        diffIds: [layer.diffId],
        reference: v.reference,
        source: 'debootstrap',
        created: new Date().toISOString(),
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'container=berth'],
          Cmd: v.include.includes('systemd-sysv') ? ['/sbin/init'] : ['/bin/bash'],
          StopSignal: v.include.includes('systemd-sysv') ? 'SIGRTMIN+3' : undefined,
          Labels: {
            [BUILD_KEY_LABEL]: v.key,
            'org.opencontainers.image.title': `Debian ${v.suite} (${v.variant})`,
            'dev.berth.debootstrap.mirror': v.mirror,
            'dev.berth.debootstrap.include': v.include.join(','),
          },
        },
      },
      opts,
    );
  } finally {
    if (existsSync(work)) {
      unmountUnder(work);
      rmSync(work, { recursive: true, force: true });
    }
  }
}

async function runDebootstrap(
  v: ReturnType<typeof validate>,
  target: string,
  cacheDir: string,
  opts: DebianBuildOptions,
): Promise<void> {
  const args = [`--variant=${v.variant}`, `--arch=${v.arch}`, `--cache-dir=${cacheDir}`];
  if (v.include.length > 0) args.push(`--include=${v.include.join(',')}`);
  args.push(v.suite, target, v.mirror);
  // Its own process group, so cancelling stops dpkg and everything else it started too.
  const child = spawn('debootstrap', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
    detached: true,
  });
  const onAbort = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort);
  const counts: Record<string, number> = {};
  let packages = 0;
  let tail = '';
  const onLine = (line: string) => {
    tail = `${tail}\n${line}`.slice(-4000);
    const m =
      /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing|Base system installed)\s*(\S*)/.exec(
        line,
      );
    if (!m) return;
    const phase = m[1]!.toLowerCase().replace(/ .*/, '');
    counts[phase] = (counts[phase] ?? 0) + 1;
    if (phase === 'retrieving' && m[2] && m[2] !== 'Release' && m[2] !== 'Packages') packages++;
    opts.onProgress?.({
      type: 'status',
      phase,
      message: line.slice(3),
      done: counts[phase],
      total:
        ['unpacking', 'configuring', 'extracting', 'validating'].includes(phase) && packages > 0
          ? packages
          : undefined,
    });
  };
  let buf = '';
  const feed = (d: Buffer) => {
    buf += d.toString('utf8');
    let i = buf.indexOf('\n');
    while (i >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new ImageError('build_failed', `debootstrap: ${e.message}`)));
    child.on('exit', (c) => resolve(c));
  }).finally(() => opts.signal?.removeEventListener('abort', onAbort));
  if (opts.signal?.aborted) throw new ImageError('aborted', 'the build was cancelled');
  if (code !== 0) throw new ImageError('build_failed', `debootstrap exited with ${code}:${tail}`);
}

/** Packs a tree as a layer tar, hashing it (diff-id) and storing it gzip-compressed (blob). */
export async function packTreeLayer(store: ImageStore, dir: string, opts: OperationOptions) {
  const pack = tar.pack();
  const hash = createHash('sha256');
  let tarSize = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      tarSize += chunk.length;
      cb(null, chunk);
    },
  });
  const gz = createGzip({ level: 4 });
  const compressing = pipeline(pack as unknown as NodeJS.ReadableStream, meter, gz);
  const writing = store.blobs.write(undefined, gz);
  const [stats, blob] = await Promise.all([packTree(dir, pack), writing, compressing]);
  opts.onProgress?.({
    type: 'status',
    phase: 'pack',
    message: `layer of ${tarSize} bytes packed`,
    done: tarSize,
    total: tarSize,
  });
  return {
    digest: blob.digest,
    size: blob.size,
    diffId: `sha256:${hash.digest('hex')}` as Digest,
    tarSize,
    entries: stats.entries,
    contentBytes: stats.contentBytes,
  };
}
