// Image archives: import an OCI image layout (a directory, or a tar of one, gzip allowed) or a
// `docker save` archive, and export an image as an OCI layout (tar or directory) that also
// carries Docker's manifest.json so `docker load` reads it too. Imported blobs keep their
// bytes, so digests survive a round trip. Archives are untrusted: every blob is verified
// against the digest it is filed under, and documents are validated before use.
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.ts';
import { type Digest, digestHex } from './digest.ts';
import { ImageError } from './errors.ts';
import {
  type Descriptor,
  documentKind,
  ImageConfigSchema,
  type ImageIndex,
  IndexSchema,
  MAX_DOCUMENT_BYTES,
  ManifestSchema,
  MediaType,
  parseDocument,
} from './oci.ts';
import { hostPlatform, parsePlatform, selectManifest } from './platform.ts';
import type { ImageRecord } from './records.ts';
import { formatReference, normalizeReference, parseReference } from './reference.ts';
import type { ImageStore, OperationOptions } from './store.ts';
import { decompress, sniffCompression } from './unpack.ts';

export interface ImportOptions extends OperationOptions {
  /** Reference to give the imported image (required to pick one of several in an index). */
  reference?: string;
  platform?: string;
}

const DockerManifestSchema = z.array(
  z.object({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string().min(1)),
  }),
);

const LAYOUT_DOCUMENTS = ['index.json', 'manifest.json', 'oci-layout', 'repositories'];

const OciLayoutSchema = z.object({ imageLayoutVersion: z.string() });

/** How an importer gets a blob of the archive into the store. */
type EnsureBlob = (d: Descriptor) => Promise<void>;

/** Imports an OCI layout directory, or a tar (file path or stream) of an OCI layout or docker save. */
export async function importArchive(
  store: ImageStore,
  source: string | Readable,
  opts: ImportOptions = {},
): Promise<ImageRecord[]> {
  if (typeof source === 'string' && existsSync(source) && statSync(source).isDirectory())
    return importLayoutDir(store, source, opts);
  const stream = typeof source === 'string' ? createReadStream(source) : source;
  return importTar(store, stream, opts);
}

async function importLayoutDir(store: ImageStore, dir: string, opts: ImportOptions): Promise<ImageRecord[]> {
  const read = (name: string) => {
    const p = join(dir, name);
    if (!existsSync(p))
      throw new ImageError('invalid_archive', `${dir}: no ${name} (not an OCI image layout)`);
    if (statSync(p).size > MAX_DOCUMENT_BYTES) throw new ImageError('invalid_archive', `${p}: too large`);
    return readFileSync(p);
  };
  parseDocument(OciLayoutSchema, read('oci-layout'), `${dir}/oci-layout`);
  const index = parseDocument(IndexSchema, read('index.json'), `${dir}/index.json`);
  const releases: Array<() => void> = [];
  const ensure: EnsureBlob = async (d) => {
    releases.push(store.pin([d.digest]));
    const p = join(dir, 'blobs', 'sha256', digestHex(d.digest as Digest));
    if (!existsSync(p)) throw new ImageError('invalid_archive', `${dir}: blob ${d.digest} is missing`);
    await store.blobs.write(d.digest as Digest, createReadStream(p), { size: d.size });
  };
  try {
    return await importFromIndex(store, index, ensure, dir, opts);
  } finally {
    for (const r of releases) r();
  }
}

async function importTar(store: ImageStore, stream: Readable, opts: ImportOptions): Promise<ImageRecord[]> {
  const files = new Map<string, Digest>();
  const docs = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const seen: Digest[] = [];
  const releases: Array<() => void> = [];
  const extract = tar.extract();
  const piping = pipeline(decompress(stream), extract as unknown as NodeJS.WritableStream);
  let failed: unknown;
  piping.catch((e) => {
    failed ??= e;
  });
  try {
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = posix.normalize(h.name).replace(/^(\.\/|\/)+/, '');
        if (h.type === 'symlink' || h.type === 'link') {
          const target =
            h.type === 'link' ? (h.linkname ?? '') : posix.join(posix.dirname(name), h.linkname ?? '');
          links.set(name, posix.normalize(target).replace(/^(\.\/|\/)+/, ''));
          entry.resume();
          continue;
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file') {
          entry.resume();
          continue;
        }
        if (LAYOUT_DOCUMENTS.includes(name)) {
          if ((h.size ?? 0) > MAX_DOCUMENT_BYTES)
            throw new ImageError('invalid_archive', `${name}: too large`);
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          docs.set(name, Buffer.concat(chunks));
          continue;
        }
        // Everything else is content: verified against its name when it has one (OCI blobs),
        // hashed otherwise (docker save's <id>.json and <id>/layer.tar).
        const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
        const info = await store.blobs.write(
          blob ? (`sha256:${blob[1]}` as Digest) : undefined,
          entry as unknown as AsyncIterable<Uint8Array>,
          { size: h.size },
        );
        releases.push(store.pin([info.digest]));
        seen.push(info.digest);
        files.set(name, info.digest);
      }
      await piping;
    } catch (e) {
      extract.destroy();
      await piping.catch(() => {});
      if (e instanceof ImageError) throw e;
      if (failed instanceof ImageError) throw failed;
      throw new ImageError(
        'invalid_archive',
        `archive: ${(failed as Error)?.message ?? (e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    const resolve = (name: string, field: string): Digest => {
      let n = posix.normalize(name).replace(/^(\.\/|\/)+/, '');
      for (let i = 0; i < 16 && !files.has(n) && links.has(n); i++) n = links.get(n)!;
      const d = files.get(n);
      if (!d) throw new ImageError('invalid_archive', `${field}: ${name} is not in the archive`);
      return d;
    };
    const ensure: EnsureBlob = async (d) => {
      if (!store.blobs.has(d.digest as Digest))
        throw new ImageError('invalid_archive', `archive: blob ${d.digest} is missing`);
      if (store.blobs.size(d.digest as Digest) !== d.size)
        throw new ImageError('size_mismatch', `archive: blob ${d.digest} is not ${d.size} bytes`);
    };
    if (docs.has('index.json')) {
      const index = parseDocument(IndexSchema, docs.get('index.json')!, 'archive: index.json');
      return await importFromIndex(store, index, ensure, 'archive', opts);
    }
    if (docs.has('manifest.json')) return await importDockerSave(store, docs, resolve, opts);
    throw new ImageError(
      'invalid_archive',
      'archive: neither index.json (OCI layout) nor manifest.json (docker save)',
    );
  } finally {
    for (const r of releases) r();
  }
}

async function importDockerSave(
  store: ImageStore,
  docs: Map<string, Buffer>,
  resolve: (name: string, field: string) => Digest,
  opts: ImportOptions,
): Promise<ImageRecord[]> {
  const entries = parseDocument(DockerManifestSchema, docs.get('manifest.json')!, 'archive: manifest.json');
  if (opts.reference && entries.length !== 1)
    throw new ImageError(
      'invalid_archive',
      `reference: the archive holds ${entries.length} images, give none`,
    );
  const out: ImageRecord[] = [];
  for (const [i, e] of entries.entries()) {
    const configDigest = resolve(e.Config, `manifest.json[${i}].Config`);
    const config = parseDocument(
      ImageConfigSchema,
      store.blobs.read(configDigest),
      `archive: config ${e.Config}`,
    );
    if (config.rootfs.diff_ids.length !== e.Layers.length)
      throw new ImageError(
        'invalid_archive',
        `manifest.json[${i}]: ${e.Layers.length} layers but the config lists ${config.rootfs.diff_ids.length}`,
      );
    const layers: Descriptor[] = e.Layers.map((l, j) => {
      const digest = resolve(l, `manifest.json[${i}].Layers[${j}]`);
      const kind = sniffCompression(readHead(store.blobs.path(digest)));
      return {
        mediaType:
          kind === 'gzip'
            ? MediaType.ociLayerGzip
            : kind === 'zstd'
              ? MediaType.ociLayerZstd
              : MediaType.ociLayer,
        digest,
        size: store.blobs.size(digest),
      };
    });
    const tags = opts.reference ? [opts.reference] : (e.RepoTags ?? []);
    const references = tags.map((t, j) => normalizeReference(t, `manifest.json[${i}].RepoTags[${j}]`));
    out.push(
      await store.addManifest(
        {
          layers,
          diffIds: config.rootfs.diff_ids as Digest[],
          configDigest,
          config: {},
          reference: references[0],
          source: 'archive',
        },
        opts,
      ),
    );
    // Further tags of the same image.
    for (const ref of references.slice(1)) {
      const rec = out[out.length - 1]!;
      rec.references = [...new Set([...rec.references, ref])];
      await store.records.save(rec);
    }
  }
  return out;
}

function readHead(path: string): Buffer {
  const buf = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try {
    return buf.subarray(0, readSync(fd, buf, 0, 4, 0));
  } finally {
    closeSync(fd);
  }
}

async function importFromIndex(
  store: ImageStore,
  index: ImageIndex,
  ensure: EnsureBlob,
  where: string,
  opts: ImportOptions,
): Promise<ImageRecord[]> {
  let chosen = index.manifests;
  if (opts.reference) {
    const ref = parseReference(opts.reference, 'reference');
    const full = formatReference(ref);
    const named = index.manifests.filter((m) => {
      const a = m.annotations ?? {};
      const n = a['org.opencontainers.image.ref.name'];
      const img = a['io.containerd.image.name'];
      return n === ref.tag || n === full || (img !== undefined && normalizeReference(img) === full);
    });
    if (named.length > 0) chosen = named.slice(0, 1);
    else if (index.manifests.length !== 1)
      throw new ImageError(
        'invalid_archive',
        `reference: ${where} holds ${index.manifests.length} images and none is named ${JSON.stringify(opts.reference)}`,
      );
  }
  if (chosen.length === 0) throw new ImageError('invalid_archive', `${where}: the index lists no images`);
  const out: ImageRecord[] = [];
  for (const top of chosen) {
    let desc = top;
    await ensure(desc);
    if (documentKind(desc.mediaType, undefined) === 'index') {
      const nested = parseDocument(
        IndexSchema,
        store.blobs.read(desc.digest as Digest),
        `${where}: index ${desc.digest}`,
      );
      desc = selectManifest(
        nested.manifests,
        opts.platform ? parsePlatform(opts.platform) : hostPlatform(),
        where,
      );
      await ensure(desc);
    }
    const manifest = parseDocument(
      ManifestSchema,
      store.blobs.read(desc.digest as Digest),
      `${where}: manifest ${desc.digest}`,
    );
    await ensure(manifest.config);
    for (const l of manifest.layers) await ensure(l);
    const a = top.annotations ?? {};
    const name = opts.reference ?? a['io.containerd.image.name'];
    const references = name ? [normalizeReference(name, 'reference')] : [];
    out.push(
      await store.commit({ manifestDigest: desc.digest as Digest, references, source: 'archive' }, opts),
    );
  }
  return out;
}

// ---- export ----------------------------------------------------------------------------

interface LayoutFile {
  name: string;
  size: number;
  open: () => Readable;
}

async function layoutFiles(store: ImageStore, image: string): Promise<LayoutFile[]> {
  const rec = await store.inspect(image);
  const manifestSize = store.blobs.size(rec.digest);
  const annotations: Record<string, string> = {};
  const ref = rec.references[0];
  if (ref) {
    annotations['io.containerd.image.name'] = ref;
    const tag = parseReference(ref).tag;
    if (tag) annotations['org.opencontainers.image.ref.name'] = tag;
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      {
        mediaType: rec.manifestMediaType,
        digest: rec.digest,
        size: manifestSize,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      },
    ],
  };
  const blobPath = (d: Digest) => `blobs/sha256/${digestHex(d)}`;
  const dockerManifest = [
    {
      Config: blobPath(rec.configDigest),
      RepoTags: ref ? [ref.replace(/^docker\.io\/(library\/)?/, '')] : null,
      Layers: rec.layers.map((l) => blobPath(l.digest)),
    },
  ];
  const mem = (name: string, data: string): LayoutFile => {
    const buf = Buffer.from(data);
    return { name, size: buf.length, open: () => Readable.from([buf]) };
  };
  const blob = (d: Digest): LayoutFile => {
    if (!store.blobs.has(d)) throw new ImageError('not_found', `blob ${d} of ${image} is not in the store`);
    return { name: blobPath(d), size: store.blobs.size(d), open: () => store.blobs.open(d) };
  };
  const blobs = [...new Set([rec.digest, rec.configDigest, ...rec.layers.map((l) => l.digest)])].map(blob);
  return [
    mem('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' })),
    mem('index.json', JSON.stringify(index)),
    mem('manifest.json', JSON.stringify(dockerManifest)),
    ...blobs,
  ];
}

/** Writes an image as an OCI layout tar to `out`. */
export async function exportImage(store: ImageStore, image: string, out: Writable): Promise<void> {
  const files = await layoutFiles(store, image);
  const pack = tar.pack();
  const mtime = new Date(0);
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, out);
  const dir = (name: string) =>
    new Promise<void>((res, rej) =>
      pack.entry({ name, type: 'directory', mode: 0o755, mtime }, '', (e) => (e ? rej(e) : res())),
    );
  await dir('blobs/');
  await dir('blobs/sha256/');
  for (const f of files) {
    await new Promise<void>((res, rej) => {
      const sink = pack.entry({ name: f.name, size: f.size, mode: 0o644, mtime }, (e) =>
        e ? rej(e) : res(),
      );
      pipeline(f.open(), sink as unknown as NodeJS.WritableStream).catch(rej);
    });
  }
  pack.finalize();
  await writing;
}

/** Writes an image as an OCI layout directory (created if missing). */
export async function exportImageToDir(store: ImageStore, image: string, dir: string): Promise<void> {
  const files = await layoutFiles(store, image);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const f of files) {
    const target = join(dir, f.name);
    if (f.name.startsWith('blobs/')) {
      if (!existsSync(target))
        await copyFile(store.blobs.path(`sha256:${posix.basename(f.name)}` as Digest), target);
    } else {
      const chunks: Buffer[] = [];
      for await (const c of f.open()) chunks.push(c as Buffer);
      writeFileAtomic(target, Buffer.concat(chunks));
    }
  }
}
