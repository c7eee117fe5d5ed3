// The image store: one object the agent opens on <state dir>/images and calls for everything
// images — pulls, imports, exports, builds, listing, removal, garbage collection and container
// roots. Long operations report progress through `onProgress` (and `progressIterable` turns
// that into an async iterable for tRPC subscriptions) and stop on an AbortSignal.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { exportImage, exportImageToDir, type ImportOptions, importArchive } from './archive.ts';
import { BlobStore } from './blobs.ts';
import { ensureBuiltinImage } from './builtin.ts';
import { buildDebianImage, type DebianBuildOptions } from './debootstrap.ts';
import { type Digest, isDigest, sha256 } from './digest.ts';
import { ImageError } from './errors.ts';
import { LayerStore } from './layers.ts';
import {
  checkManifestMediaTypes,
  type Descriptor,
  documentKind,
  type ImageConfig,
  ImageConfigSchema,
  IndexSchema,
  MANIFEST_MEDIA_TYPES,
  ManifestSchema,
  MediaType,
  parseDocument,
} from './oci.ts';
import { hostPlatform, type PlatformWanted, parsePlatform, selectManifest } from './platform.ts';
import { FileImageRecordStore, type ImageRecord, type ImageRecordStore } from './records.ts';
import { formatReference, normalizeReference, parseReference } from './reference.ts';
import { FileCredentialStore, RegistryClient, type RegistryClientOptions } from './registry.ts';
import { type CreateRootfsOptions, type Rootfs, RootfsManager } from './rootfs.ts';
import { DEFAULT_MAX_LAYER_BYTES } from './unpack.ts';

export type ImageProgress =
  | { type: 'resolved'; reference?: string; digest: Digest; layers: Array<{ digest: Digest; size: number }> }
  | {
      type: 'layer';
      digest: Digest;
      phase: 'download' | 'unpack' | 'exists' | 'done';
      /** Bytes done and total: downloaded bytes while downloading, compressed bytes read while unpacking. */
      done: number;
      total: number;
    }
  | { type: 'status'; phase: string; message: string; done?: number; total?: number }
  | { type: 'done'; image: ImageRecord };

export interface OperationOptions {
  onProgress?: (event: ImageProgress) => void;
  signal?: AbortSignal;
}

export interface ImageStoreOptions {
  /** Where image records live; defaults to a JSON file under the store. */
  records?: ImageRecordStore;
  registry?: Omit<RegistryClientOptions, 'credentials'> & {
    credentials?: RegistryClientOptions['credentials'];
  };
  /** Cap on one layer's uncompressed size (decompression bombs). */
  maxLayerBytes?: number;
  /** Parallel layer downloads/unpacks per pull. */
  concurrency?: number;
  /** Test hook: mount overlays with mount(2) and short links even where `lowerdir+` works. */
  forceLegacyMount?: boolean;
}

export interface LocalImageInput {
  /** Uncompressed layer tars, base first. */
  layers: Buffer[];
  config: Record<string, unknown>;
  reference?: string;
  source: ImageRecord['source'];
  created?: string;
  annotations?: Record<string, string>;
}

export interface GcResult {
  layers: Digest[];
  blobs: Digest[];
  images: Digest[];
}

/** Commits the manifest of an image whose blobs are all in the store. */
interface CommitInput {
  manifestDigest: Digest;
  references: string[];
  source: ImageRecord['source'];
  extraPins?: Digest[];
}

export class ImageStore {
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  readonly roots: RootfsManager;
  readonly records: ImageRecordStore;
  readonly registry: RegistryClient;
  readonly credentials: FileCredentialStore;
  private readonly pins = new Map<string, number>();

  constructor(
    readonly dir: string,
    readonly opts: ImageStoreOptions = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    this.blobs = new BlobStore(dir);
    this.layers = new LayerStore(dir);
    this.roots = new RootfsManager(dir, this.layers, { forceLegacyMount: opts.forceLegacyMount });
    this.records = opts.records ?? new FileImageRecordStore(join(dir, 'records'));
    this.credentials = new FileCredentialStore(join(dir, 'credentials.json'));
    this.registry = new RegistryClient({
      ...opts.registry,
      credentials: opts.registry?.credentials ?? this.credentials,
    });
    // What an interrupted unpack or root creation left is never taken for complete; remove it.
    this.layers.cleanTemp();
    this.roots.cleanTemp();
  }

  /** Holds digests (blobs or diff-ids) against garbage collection until `release` is called. */
  pin(digests: Iterable<string>): () => void {
    const list = [...digests];
    for (const d of list) this.pins.set(d, (this.pins.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of list) {
        const n = (this.pins.get(d) ?? 1) - 1;
        if (n <= 0) this.pins.delete(d);
        else this.pins.set(d, n);
      }
    };
  }

  /** Holds digests against garbage collection for the duration of `fn`. */
  async pinned<T>(digests: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    const release = this.pin(digests);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ---- queries -------------------------------------------------------------------------

  list(): Promise<ImageRecord[]> {
    return this.records.list();
  }

  /** An image by reference (any form), manifest digest, or unique digest prefix (≥ 12 hex). */
  async inspect(refOrDigest: string): Promise<ImageRecord> {
    const hit = await this.find(refOrDigest);
    if (!hit)
      throw new ImageError('not_found', `image: no image ${JSON.stringify(refOrDigest)} in the store`);
    return hit;
  }

  private async find(refOrDigest: string): Promise<ImageRecord | undefined> {
    if (isDigest(refOrDigest)) return this.records.get(refOrDigest);
    const hex = refOrDigest.replace(/^sha256:/, '');
    if (/^[a-f0-9]{12,64}$/.test(hex)) {
      const all = (await this.records.list()).filter((r) => r.digest.slice(7).startsWith(hex));
      if (all.length === 1) return all[0];
      if (all.length > 1) throw new ImageError('invalid_reference', `image: ${refOrDigest} is ambiguous`);
    }
    const ref = parseReference(refOrDigest, 'image');
    if (ref.digest) return this.records.get(ref.digest);
    return this.records.byReference(formatReference(ref));
  }

  // ---- committing ----------------------------------------------------------------------

  /** Validates a manifest whose blobs are stored, unpacks its layers, and records the image. */
  async commit(input: CommitInput, op: OperationOptions = {}): Promise<ImageRecord> {
    const what = `manifest ${input.manifestDigest}`;
    const manifestBytes = this.blobs.read(input.manifestDigest);
    const manifest = parseDocument(ManifestSchema, manifestBytes, what);
    checkManifestMediaTypes(manifest, what);
    const config = this.readConfig(manifest.config, what);
    if (config.rootfs.diff_ids.length !== manifest.layers.length)
      throw new ImageError(
        'invalid_manifest',
        `${what}: ${manifest.layers.length} layers but the config lists ${config.rootfs.diff_ids.length} diff_ids`,
      );
    const diffIds = config.rootfs.diff_ids as Digest[];
    const pins = [
      input.manifestDigest,
      manifest.config.digest,
      ...manifest.layers.map((l) => l.digest),
      ...diffIds,
    ];
    return this.pinned(pins, async () => {
      let size = 0;
      await mapLimit(manifest.layers, this.opts.concurrency ?? 3, async (layer, i) => {
        const diffId = diffIds[i]!;
        const total = layer.size;
        if (this.layers.has(diffId)) {
          op.onProgress?.({ type: 'layer', digest: layer.digest, phase: 'exists', done: total, total });
        }
        const meta = await this.layers.ensure(diffId, () => this.blobs.open(layer.digest as Digest), {
          maxBytes: this.opts.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES,
          signal: op.signal,
          onProgress: (done) =>
            op.onProgress?.({ type: 'layer', digest: layer.digest, phase: 'unpack', done, total }),
        });
        size += meta.size;
        op.onProgress?.({ type: 'layer', digest: layer.digest, phase: 'done', done: total, total });
      });
      const record = recordFrom(
        input,
        manifest.mediaType ?? '',
        manifest.config.digest as Digest,
        config,
        size,
        {
          layers: manifest.layers,
          diffIds,
        },
      );
      await this.records.save(record);
      op.onProgress?.({ type: 'done', image: record });
      return record;
    });
  }

  private readConfig(desc: Descriptor, what: string): ImageConfig {
    return parseDocument(
      ImageConfigSchema,
      this.blobs.read(desc.digest as Digest),
      `${what}: config ${desc.digest}`,
    );
  }

  /**
   * Records an image made here from uncompressed layer tars (base first) and a container
   * config: layers are stored gzip-compressed, as an OCI manifest and config.
   */
  async addLocalImage(input: LocalImageInput, op: OperationOptions = {}): Promise<ImageRecord> {
    const layers: Descriptor[] = [];
    const diffIds: Digest[] = [];
    for (const tar of input.layers) {
      diffIds.push(sha256(tar));
      const gz = gzipSync(tar, { level: 6 });
      const blob = await this.blobs.putBuffer(gz);
      layers.push({ mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size });
    }
    return this.addManifest({ ...input, layers, diffIds }, op);
  }

  /** Writes config and manifest for layers whose blobs are stored, then commits the image. */
  async addManifest(
    input: Omit<LocalImageInput, 'layers'> & {
      layers: Descriptor[];
      diffIds: Digest[];
      /** A config blob already stored (kept byte for byte); otherwise one is written from `config`. */
      configDigest?: Digest;
    },
    op: OperationOptions = {},
  ): Promise<ImageRecord> {
    const platform = hostPlatform();
    const config = {
      created: input.created ?? new Date(0).toISOString(),
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: input.config,
      rootfs: { type: 'layers', diff_ids: input.diffIds },
      history: input.layers.map(() => ({ created_by: `berth ${input.source}` })),
    };
    const configBlob = input.configDigest
      ? { digest: input.configDigest, size: this.blobs.size(input.configDigest) }
      : await this.blobs.putBuffer(JSON.stringify(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size },
      layers: input.layers,
      ...(input.annotations ? { annotations: input.annotations } : {}),
    };
    const m = await this.blobs.putBuffer(JSON.stringify(manifest));
    const references = input.reference ? [normalizeReference(input.reference, 'reference')] : [];
    return this.commit({ manifestDigest: m.digest, references, source: input.source }, op);
  }

  // ---- registry ------------------------------------------------------------------------

  /** Pulls an image from its registry; `platform` ("os/arch[/variant]") defaults to this host's. */
  async pull(reference: string, op: OperationOptions & { platform?: string } = {}): Promise<ImageRecord> {
    const ref = parseReference(reference, 'reference');
    const want: PlatformWanted = op.platform ? parsePlatform(op.platform) : hostPlatform();
    const where = formatReference(ref);
    let fetched = await this.registry.getManifest(ref, ref.digest ?? ref.tag!, op.signal);
    if (documentKind(fetched.mediaType, undefined) === 'index') {
      const index = parseDocument(IndexSchema, fetched.bytes, `${where}: index`);
      const desc = selectManifest(index.manifests, want, where);
      if (!MANIFEST_MEDIA_TYPES.includes(desc.mediaType))
        throw new ImageError(
          'unsupported_media_type',
          `${where}: index entry ${desc.digest} is a ${desc.mediaType}`,
        );
      fetched = await this.registry.getManifest(ref, desc.digest, op.signal);
      if (documentKind(fetched.mediaType, undefined) !== 'manifest')
        throw new ImageError(
          'invalid_manifest',
          `${where}: index entry ${desc.digest} is not an image manifest`,
        );
    }
    const manifestDigest = fetched.digest;
    const manifest = parseDocument(ManifestSchema, fetched.bytes, `${where}: manifest ${manifestDigest}`);
    checkManifestMediaTypes(manifest, where);
    const blobsNeeded = [manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    return this.pinned(blobsNeeded, async () => {
      op.onProgress?.({
        type: 'resolved',
        reference: where,
        digest: manifestDigest,
        layers: manifest.layers.map((l) => ({ digest: l.digest as Digest, size: l.size })),
      });
      if (!this.blobs.has(manifest.config.digest as Digest))
        await this.blobs.putBuffer(
          await this.registry.getBlob(ref, manifest.config, op.signal),
          manifest.config.digest as Digest,
        );
      await mapLimit(manifest.layers, this.opts.concurrency ?? 3, (layer) =>
        this.registry.downloadBlob(ref, layer, this.blobs, {
          signal: op.signal,
          onBytes: (done, total) =>
            op.onProgress?.({
              type: 'layer',
              digest: layer.digest as Digest,
              phase: 'download',
              done,
              total,
            }),
        }),
      );
      await this.blobs.putBuffer(fetched.bytes, manifestDigest);
      // A pull by digest is remembered as repo@digest, so pruning dangling images keeps it.
      const references = [formatReference(ref.tag ? { ...ref, digest: undefined } : ref)];
      return this.commit({ manifestDigest, references, source: 'registry' }, op);
    });
  }

  // ---- archives and builds (see archive.ts, builtin.ts, debootstrap.ts) -----------------

  /** Imports an OCI layout (directory, or tar as a path or stream) or a docker save archive. */
  import(source: string | Readable, op: ImportOptions = {}): Promise<ImageRecord[]> {
    return importArchive(this, source, op);
  }

  /** Writes an image as an OCI layout tar (with Docker's manifest.json) to `out`. */
  export(image: string, out: Writable): Promise<void> {
    return exportImage(this, image, out);
  }

  exportToDir(image: string, dir: string): Promise<void> {
    return exportImageToDir(this, image, dir);
  }

  /** The built-in minimal image (busybox), made offline. */
  ensureBuiltin(op: OperationOptions = {}): Promise<ImageRecord> {
    return ensureBuiltinImage(this, op);
  }

  /** A Debian image built with debootstrap (cached by its options). */
  buildDebian(op: DebianBuildOptions = {}): Promise<ImageRecord> {
    return buildDebianImage(this, op);
  }

  // ---- removal and garbage collection --------------------------------------------------

  /**
   * Removes a reference (or, given a digest, the image and all its references). The image's
   * record goes once nothing refers to it; a container root using it keeps its layers alive.
   */
  async remove(refOrDigest: string): Promise<{ untagged: string[]; deleted?: Digest }> {
    const rec = await this.inspect(refOrDigest);
    const byDigest = isDigest(refOrDigest) || /^(sha256:)?[a-f0-9]{12,64}$/.test(refOrDigest);
    const untagged: string[] = [];
    if (!byDigest) {
      const ref = normalizeReference(refOrDigest, 'image');
      await this.records.untag(ref);
      untagged.push(ref);
      const now = await this.records.get(rec.digest);
      if (now && now.references.length > 0) return { untagged };
    } else {
      untagged.push(...rec.references);
    }
    await this.records.delete(rec.digest);
    return { untagged, deleted: rec.digest };
  }

  /**
   * Deletes unpacked layers and blobs that no image record and no container root uses, and
   * interrupted downloads no operation is working on. Never a layer a container root leases.
   * With `dangling`, first removes images that have no reference left and no container root.
   * `keep`: images an owner's records name (e.g. berthd's containers, a root about to be made
   * for one), read synchronously together with the roots' leases at the one moment everything
   * is decided and the layers and blobs deleted: nothing can be created in between.
   */
  async gc(opts: { dangling?: boolean; keep?: () => Iterable<string> } = {}): Promise<GcResult> {
    const records = await this.records.list();
    // From here to the deletion of the layers and blobs: synchronous (no await), so a root or
    // an owner's record made meanwhile is either seen here or made after its layers are gone
    // (roots.create checks its layers synchronously, before it renames the root into place).
    const leases = this.roots.list();
    const kept = new Set<string>([...leases.flatMap((l) => (l.image ? [l.image] : [])), ...this.pins.keys()]);
    for (const d of opts.keep?.() ?? []) kept.add(d);
    const doomed = opts.dangling
      ? records.filter((r) => r.references.length === 0 && !kept.has(r.digest)).map((r) => r.digest)
      : [];
    const usedLayers = new Set<string>([...leases.flatMap((l) => l.layers), ...this.pins.keys()]);
    const usedBlobs = new Set<string>(this.pins.keys());
    const going = new Set<string>(doomed);
    for (const r of records) {
      if (going.has(r.digest)) continue;
      usedBlobs.add(r.digest);
      usedBlobs.add(r.configDigest);
      for (const l of r.layers) {
        usedBlobs.add(l.digest);
        usedLayers.add(l.diffId);
      }
    }
    const layers = this.layers.list().filter((d) => !usedLayers.has(d));
    for (const d of layers) this.layers.delete(d);
    const blobs = this.blobs.list().filter((d) => !usedBlobs.has(d));
    for (const d of blobs) this.blobs.delete(d);
    this.blobs.cleanIngest(new Set([...this.pins.keys()].map((d) => d.replace(/^sha256:/, ''))));
    // The records last: one a crash leaves behind names layers gone, and the next gc removes it
    // (a root made from it meanwhile fails cleanly: its layers are not in the store).
    for (const d of doomed) await this.records.delete(d);
    return { layers, blobs, images: doomed };
  }

  // ---- container roots -----------------------------------------------------------------

  /** Creates a container's root from a stored image (constant time with overlayfs). */
  async createRootfs(
    id: string,
    image: string,
    opts: Pick<CreateRootfsOptions, 'mode' | 'idmap'> = {},
  ): Promise<{ rootfs: Rootfs; image: ImageRecord }> {
    const rec = await this.inspect(image);
    const rootfs = await this.roots.create({
      id,
      image: rec.digest,
      layers: rec.layers.map((l) => l.diffId),
      ...opts,
    });
    return { rootfs, image: rec };
  }

  removeRootfs(id: string): Promise<void> {
    return this.roots.remove(id);
  }

  /** Mounts an existing container root again, e.g. after the host rebooted. */
  mountRootfs(id: string): Promise<void> {
    return this.roots.mount(id);
  }
}

function recordFrom(
  input: CommitInput,
  manifestMediaType: string,
  configDigest: Digest,
  config: ImageConfig,
  size: number,
  l: { layers: Descriptor[]; diffIds: Digest[] },
): ImageRecord {
  const c = config.config ?? {};
  return {
    digest: input.manifestDigest,
    references: input.references,
    manifestMediaType: manifestMediaType || 'application/vnd.oci.image.manifest.v1+json',
    configDigest,
    platform: {
      os: config.os,
      architecture: config.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    },
    config: {
      ...(c.User ? { user: c.User } : {}),
      env: c.Env ?? [],
      entrypoint: c.Entrypoint ?? null,
      cmd: c.Cmd ?? null,
      ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
      exposedPorts: Object.keys(c.ExposedPorts ?? {}),
      labels: c.Labels ?? {},
      ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    },
    layers: l.layers.map((d, i) => ({
      digest: d.digest as Digest,
      diffId: l.diffIds[i]!,
      size: d.size,
      mediaType: d.mediaType,
    })),
    size,
    ...(config.created ? { created: config.created } : {}),
    source: input.source,
    addedAt: new Date().toISOString(),
  };
}

/** Runs `fn` over `items` with at most `limit` at a time; the first failure rejects. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Turns a progress-reporting operation into an async iterable of its events that ends with
 * the operation (or throws its error): what a tRPC subscription or a CLI progress bar wants.
 */
export async function* progressIterable<T>(
  run: (onProgress: (e: ImageProgress) => void) => Promise<T>,
): AsyncGenerator<ImageProgress, T> {
  const queue: ImageProgress[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let error: unknown;
  let result: T | undefined;
  const p = run((e) => {
    queue.push(e);
    wake?.();
  }).then(
    (r) => {
      result = r;
    },
    (e) => {
      error = e ?? new Error('operation failed');
    },
  );
  p.finally(() => {
    finished = true;
    wake?.();
  });
  for (;;) {
    while (queue.length > 0) yield queue.shift()!;
    if (finished) break;
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = undefined;
  }
  if (error !== undefined) throw error;
  return result as T;
}
