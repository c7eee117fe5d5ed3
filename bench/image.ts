// `pnpm bench image` (root): two measurements, each side by side in one run, medians.
//  1. Unpack of a large layer, a Debian bookworm rootfs (debootstrap minbase + systemd, built
//     once and cached under /var/cache/berth-bench as an OCI layout): Berth's import of the
//     layout (verify blobs, unpack with diff-id check, syncfs) and Berth's bare layer unpack,
//     against `umoci unpack` of the same image. Ratio = umoci time / Berth time (≥ 1.0: Berth
//     is at least as fast).
//  2. Creating a container root from a cached image of 10 MB and of 1 GB (overlayfs); ratio =
//     1 GB time / 10 MB time (≈ 1.0: constant time whatever the image's size).
// Options: --rounds N (default 5), --roots N (default 30).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildDebianImage,
  exportImageToDir,
  ImageStore,
  importArchive,
  MediaType,
  packTreeLayer,
  unpackLayer,
} from '../packages/runtime/src/image/index.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('rounds', 5);
const ROOTS = arg('roots', 30);
const CACHE = '/var/cache/berth-bench';
const LAYOUT = join(CACHE, 'debian-bookworm-layout');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const work = mkdtempSync(join(tmpdir(), 'berth-test-bench-image-'));

function cleanup(dir: string) {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
}

async function debianLayout(): Promise<void> {
  if (existsSync(join(LAYOUT, 'index.json'))) return;
  console.log('building the Debian rootfs image once (debootstrap, about 90 s)…');
  const store = new ImageStore(join(work, 'build-store'));
  const rec = await buildDebianImage(store, {});
  mkdirSync(CACHE, { recursive: true });
  await exportImageToDir(store, rec.digest, `${LAYOUT}.tmp`);
  rmSync(LAYOUT, { recursive: true, force: true });
  execFileSync('mv', [`${LAYOUT}.tmp`, LAYOUT]);
  cleanup(join(work, 'build-store'));
}

async function unpackBench() {
  await debianLayout();
  const index = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8'));
  const manifest = JSON.parse(
    readFileSync(join(LAYOUT, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
  );
  const layer = manifest.layers[0];
  const blob = join(LAYOUT, 'blobs/sha256', layer.digest.slice(7));
  const tag = index.manifests[0].annotations['org.opencontainers.image.ref.name'];
  const times = { import: [] as number[], unpack: [] as number[], umoci: [] as number[] };
  let tarSize = 0;
  const runs: Record<keyof typeof times, (r: number) => Promise<void>> = {
    import: async (r) => {
      const s = join(work, `store-${r}`);
      const t = process.hrtime.bigint();
      await importArchive(new ImageStore(s), LAYOUT);
      times.import.push(ms(t));
      cleanup(s);
    },
    umoci: async (r) => {
      const bundle = join(work, `umoci-${r}`);
      const t = process.hrtime.bigint();
      execFileSync('umoci', ['unpack', '--image', `${LAYOUT}:${tag}`, bundle], { stdio: 'ignore' });
      times.umoci.push(ms(t));
      cleanup(bundle);
    },
    unpack: async (r) => {
      const d = join(work, `unpack-${r}`);
      mkdirSync(d);
      const t = process.hrtime.bigint();
      tarSize = (await unpackLayer(createReadStream(blob), d)).tarSize;
      times.unpack.push(ms(t));
      cleanup(d);
    },
  };
  const order = Object.keys(runs) as Array<keyof typeof times>;
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate who goes first, so neither side always runs after the other's writeback.
    for (let k = 0; k < order.length; k++) await runs[order[(r + k) % order.length]!](r);
  }
  const mb = tarSize / 1e6;
  const row = (name: string, xs: number[]) =>
    console.log(
      `  ${name.padEnd(34)} median ${median(xs).toFixed(0).padStart(6)} ms  ${(mb / (median(xs) / 1000)).toFixed(0).padStart(4)} MB/s  runs ${xs.map((x) => x.toFixed(0)).join(' ')}`,
    );
  console.log(
    `\nunpack of a Debian bookworm rootfs layer: ${mb.toFixed(0)} MB uncompressed, ${(layer.size / 1e6).toFixed(0)} MB gzip`,
  );
  row('berth import (verify+unpack+syncfs)', times.import);
  row('berth unpackLayer', times.unpack);
  row('umoci unpack', times.umoci);
  const r1 = median(times.umoci) / median(times.import);
  const r2 = median(times.umoci) / median(times.unpack);
  console.log(
    `  ratio umoci/berth import: ${r1.toFixed(2)}x   umoci/berth unpackLayer: ${r2.toFixed(2)}x   (target ≥ 1.0)`,
  );
  return {
    tarMB: mb,
    importMs: median(times.import),
    unpackMs: median(times.unpack),
    umociMs: median(times.umoci),
    r1,
    r2,
  };
}

/** An image of about `bytes` bytes of incompressible files, committed to `store`. */
async function sizedImage(store: ImageStore, bytes: number, reference: string) {
  const tree = join(work, `tree-${reference.replace(/\W/g, '_')}`);
  mkdirSync(tree, { recursive: true });
  const fileSize = 4 * 1024 * 1024;
  for (let i = 0; i * fileSize < bytes; i++) {
    mkdirSync(join(tree, `d${i % 16}`), { recursive: true });
    writeFileSync(join(tree, `d${i % 16}`, `f${i}`), randomBytes(Math.min(fileSize, bytes - i * fileSize)));
  }
  const layer = await packTreeLayer(store, tree, {});
  rmSync(tree, { recursive: true, force: true });
  return store.addManifest({
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    diffIds: [layer.diffId],
    config: {},
    reference,
    source: 'archive',
  });
}

async function rootBench() {
  const store = new ImageStore(join(work, 'roots-store'));
  const small = await sizedImage(store, 10 * 1024 * 1024, 'berth.local/bench/small:10mb');
  const big = await sizedImage(store, 1024 * 1024 * 1024, 'berth.local/bench/big:1gb');
  const times = { small: [] as number[], big: [] as number[] };
  for (let i = 0; i < ROOTS; i++) {
    const pair = [
      ['small', small],
      ['big', big],
    ] as const;
    for (const [name, img] of i % 2 ? [...pair].reverse() : pair) {
      const t = process.hrtime.bigint();
      await store.createRootfs(`bench-${name}-${i}`, img.digest);
      times[name].push(ms(t));
      await store.removeRootfs(`bench-${name}-${i}`);
    }
  }
  console.log(`\ncontainer root creation (overlayfs), ${ROOTS} each, alternating:`);
  console.log(`  10 MB image  median ${median(times.small).toFixed(2)} ms`);
  console.log(`  1 GB image   median ${median(times.big).toFixed(2)} ms`);
  const ratio = median(times.big) / median(times.small);
  console.log(`  ratio 1GB/10MB: ${ratio.toFixed(2)}x   (target: equal within noise)`);
  cleanup(join(work, 'roots-store'));
  return { smallMs: median(times.small), bigMs: median(times.big), ratio };
}

try {
  const unpack = await unpackBench();
  const roots = await rootBench();
  console.log(`\n${JSON.stringify({ bench: 'image', unpack, roots })}`);
} finally {
  cleanup(work);
}
