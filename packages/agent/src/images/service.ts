import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ImageInfo, ImageProgressEvent } from '@berth/contracts';
import {
  BUILTIN_REFERENCE,
  DEFAULT_DEBIAN_MIRROR,
  type Digest,
  ensureBuiltinImage,
  exportImage,
  ImageError,
  type ImageErrorCode,
  type ImageProgress,
  type ImageRecord,
  ImageStore,
  importArchive,
  progressIterable,
} from '@berth/runtime/image';
import type { ImagesApi } from '../context.ts';
import { type AgentDb, sqlOf } from '../db/index.ts';
import { AgentError } from '../errors.ts';
import { PrismaImageRecordStore } from './records.ts';

// berthd's images: one ImageStore on <state dir>/images whose records live in the agent DB.
// The container service creates container roots through `store` too (one store per agent,
// so garbage collection sees every root). Long operations are async iterables of progress
// events that end with `done` (what a tRPC subscription streams).

export interface ImagesServiceOptions {
  stateDir: string;
  db: AgentDb;
  /** The Debian mirror debootstrap builds use (the only one callers may name). */
  debianMirror?: string;
  /** Registries (host[:port]) spoken to over plain HTTP. */
  insecureRegistries?: readonly string[];
  /** Told after each image added or removed (the agent's event log). */
  onEvent?: (
    kind: 'image.pulled' | 'image.imported' | 'image.built' | 'image.removed',
    data: Record<string, unknown>,
    actor: string,
  ) => void;
  /**
   * Containers recorded with an image (the container service's records), named in refusals
   * and listings; roots in the store that no record explains are named by their id.
   */
  containersUsing?: (digest: string) => Promise<Array<{ id: string; name: string }>>;
}

export interface ImagesService extends ImagesApi {
  readonly store: ImageStore;
  importArchive(
    body: Readable,
    input: { reference?: string; platform?: string; actor: string },
  ): Promise<ImageInfo[]>;
  exportImage(image: string, out: Writable): Promise<void>;
  /** Adds the built-in busybox image unless the store has it (no network needed). */
  ensureBuiltin(): Promise<void>;
  /** Runs an operation reporting library progress as an iterable of API events. */
  track(
    run: (onProgress: (e: ImageProgress) => void) => Promise<ImageRecord>,
  ): AsyncIterable<ImageProgressEvent>;
}

export function imagesService(opts: ImagesServiceOptions): ImagesService {
  const store = new ImageStore(join(opts.stateDir, 'images'), {
    records: new PrismaImageRecordStore(opts.db),
    registry: { insecure: opts.insecureRegistries ?? [] },
  });
  const usersOf = async (digest: string): Promise<string[]> => {
    const recorded = (await opts.containersUsing?.(digest)) ?? [];
    const known = new Set(recorded.map((c) => c.id));
    const users = new Set(recorded.map((c) => c.name));
    for (const r of store.roots.list()) if (r.image === digest && !known.has(r.id)) users.add(r.id);
    return [...users].sort();
  };
  const info = async (r: ImageRecord): Promise<ImageInfo> => ({ ...r, usedBy: await usersOf(r.digest) });
  const event = (r: ImageRecord) => ({ digest: r.digest, references: r.references });

  async function* track(run: (onProgress: (e: ImageProgress) => void) => Promise<ImageRecord>) {
    try {
      for await (const e of progressIterable(run)) {
        yield e.type === 'done' ? { type: 'done' as const, image: await info(e.image) } : e;
      }
    } catch (err) {
      const e = toAgentError(err);
      if (e instanceof AgentError) {
        yield { type: 'error' as const, code: e.code, message: e.message };
      } else {
        // Not one of ours (a broken connection, a disk error): its sentence, and the stack in the log.
        console.error(`berthd: image operation: ${(err as Error)?.stack ?? String(err)}`);
        yield {
          type: 'error' as const,
          code: 'INTERNAL' as const,
          message: (err as Error)?.message ?? String(err),
        };
      }
    }
  }

  return {
    store,
    track,
    async ensureBuiltin() {
      const have = await store.records.byReference(BUILTIN_REFERENCE);
      if (have?.layers.every((l) => store.layers.has(l.diffId))) return;
      await ensureBuiltinImage(store);
    },
    async list() {
      const records = await guard(() => store.list());
      return Promise.all(records.map(info));
    },
    async inspect(image) {
      return info(await guard(() => store.inspect(image)));
    },
    pull({ reference, platform, actor }, signal) {
      return track(async (onProgress) => {
        const r = await store.pull(reference, { onProgress, signal, ...(platform ? { platform } : {}) });
        opts.onEvent?.('image.pulled', event(r), actor);
        return r;
      });
    },
    buildDebian(input, signal) {
      const mirror = opts.debianMirror ?? DEFAULT_DEBIAN_MIRROR;
      if (input.mirror !== undefined && input.mirror.replace(/\/+$/, '') !== mirror.replace(/\/+$/, '')) {
        const e = new AgentError(
          'FORBIDDEN',
          `mirror: this agent builds only from its configured mirror ${mirror}`,
        );
        return (async function* () {
          yield { type: 'error' as const, code: e.code, message: e.message };
        })();
      }
      const { actor, mirror: _, ...rest } = input;
      return track(async (onProgress) => {
        const r = await store.buildDebian({ ...rest, mirror, onProgress, ...(signal ? { signal } : {}) });
        opts.onEvent?.('image.built', event(r), actor);
        return r;
      });
    },
    async importArchive(body, { reference, platform, actor }) {
      const records = await guard(() =>
        importArchive(store, body, {
          ...(reference ? { reference } : {}),
          ...(platform ? { platform } : {}),
        }),
      );
      for (const r of records) opts.onEvent?.('image.imported', event(r), actor);
      return Promise.all(records.map(info));
    },
    async exportImage(image, out) {
      await guard(() => exportImage(store, image, out));
    },
    async remove(image, actor) {
      const rec = await guard(() => store.inspect(image));
      const users = await usersOf(rec.digest);
      if (users.length > 0)
        throw new AgentError(
          'CONFLICT',
          `image ${image} is used by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first`,
        );
      const result = await guard(() => store.remove(image));
      opts.onEvent?.('image.removed', { image, ...result }, actor);
      return result;
    },
    async prune(dangling, actor) {
      // Every image a container record names is kept, whatever the roots' leases say: a root
      // being created has none yet (its record does), and a lease a power loss emptied is
      // restored only at the next start (see storeImages' createRoot). The records are read
      // synchronously (the DB's own connection) at the moment gc decides, so a create whose
      // record commits during the prune is seen, or comes after and finds no layers.
      const named = sqlOf(opts.db)
        .connection.prepare('SELECT DISTINCT "imageDigest" FROM "Container"')
        .pluck();
      const result = await guard(() => store.gc({ dangling, keep: () => named.all() as string[] }));
      if (result.images.length > 0) opts.onEvent?.('image.removed', { pruned: result.images }, actor);
      return result;
    },
    async login(registry, username, password) {
      await guard(() => store.credentials.set(registry, { username, password }));
    },
    async logout(registry) {
      await guard(() => store.credentials.set(registry, undefined));
    },
  };
}

const CODE: Record<ImageErrorCode, AgentError['code']> = {
  invalid_reference: 'INVALID_INPUT',
  invalid_digest: 'INVALID_INPUT',
  invalid_manifest: 'INVALID_INPUT',
  unsupported_media_type: 'INVALID_INPUT',
  platform_not_found: 'NOT_FOUND',
  not_found: 'NOT_FOUND',
  unauthorized: 'FORBIDDEN',
  unsafe_layer: 'INVALID_INPUT',
  layer_too_large: 'INVALID_INPUT',
  invalid_archive: 'INVALID_INPUT',
  in_use: 'CONFLICT',
  aborted: 'CONFLICT',
  digest_mismatch: 'INTERNAL',
  size_mismatch: 'INTERNAL',
  registry_error: 'INTERNAL',
  build_failed: 'INTERNAL',
  mount_failed: 'INTERNAL',
  corrupt: 'INTERNAL',
};

/** The image library's errors as the agent's (code + the library's sentence); others unchanged. */
export function toAgentError(err: unknown): unknown {
  if (err instanceof ImageError) return new AgentError(CODE[err.code], err.message);
  return err;
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAgentError(err);
  }
}

export type { Digest };
