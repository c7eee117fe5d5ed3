import { chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BUILTIN_REFERENCE,
  type Digest,
  ensureBuiltinImage,
  ImageError,
  type ImageRecord,
  type ImageStore,
} from '@berth/runtime/image';
import type { ImageConfigLike } from '../containers/spec.ts';

// The agent's side of the image store (packages/runtime/src/image): resolving a reference
// to a stored image (pulling it when missing), and container roots (overlay on the image's
// layers). Part of the runtime seam: unit tests inject a fake explicitly.

export interface ResolvedImage {
  reference: string;
  digest: string;
  layers: string[];
  config: ImageConfigLike;
}

export interface ContainerRoot {
  path: string;
  upper: string;
}

export interface ImageAdapter {
  /** The stored image for `ref`, pulled first when it is not in the store. */
  resolve(ref: string, onPulled?: (image: ResolvedImage) => void): Promise<ResolvedImage>;
  createRoot(id: string, image: ResolvedImage, idBase?: number, size?: number): Promise<ContainerRoot>;
  root(id: string): ContainerRoot | undefined;
  ensureMounted(id: string): Promise<void>;
  unmount(id: string): void;
  removeRoot(id: string): Promise<void>;
  /**
   * At start, before anything reads a root's lease: roots whose lease a power loss took (they
   * are written without a flush, see createRoot) get it back from the containers' records;
   * such a root no record names is removed. Returns the ids of both.
   */
  restoreLeases?(
    containers: Array<{ id: string; imageDigest: string; idBase: number | null }>,
    size?: number,
  ): Promise<{ restored: string[]; removed: string[] }>;
}

/** The id map of a container's range (none for a privileged container). */
function idmapOf(idBase: number | undefined, size: number) {
  return idBase === undefined
    ? undefined
    : {
        uidMap: [{ containerID: 0, hostID: idBase, size }],
        gidMap: [{ containerID: 0, hostID: idBase, size }],
      };
}

/** Names that mean the built-in busybox image (works offline). */
const BUILTIN_ALIASES = new Set([BUILTIN_REFERENCE, 'minimal', 'busybox', 'berth.local/minimal']);

export function storeImages(store: ImageStore): ImageAdapter {
  // The runtime binds a container's root after entering its user namespace, where the
  // container's root is an unprivileged host uid: every directory on the way must be
  // traversable (0711: nobody may list them, and what they hold stays root-only).
  const traversable = (p: string) => chmodSync(p, 0o711);
  traversable(store.dir);
  traversable(store.roots.dir);
  const toResolved = (r: ImageRecord, ref: string): ResolvedImage => ({
    reference: ref,
    digest: r.digest,
    layers: r.layers.map((l) => l.diffId),
    config: {
      env: r.config.env,
      entrypoint: r.config.entrypoint,
      cmd: r.config.cmd,
      ...(r.config.user ? { user: r.config.user } : {}),
      ...(r.config.workingDir ? { workingDir: r.config.workingDir } : {}),
      ...(r.config.stopSignal ? { stopSignal: r.config.stopSignal } : {}),
    },
  });
  return {
    async resolve(ref, onPulled) {
      if (BUILTIN_ALIASES.has(ref)) {
        const have = await store.records.byReference(BUILTIN_REFERENCE);
        return toResolved(have ?? (await ensureBuiltinImage(store)), BUILTIN_REFERENCE);
      }
      try {
        return toResolved(await store.inspect(ref), ref);
      } catch (e) {
        if (!(e instanceof ImageError) || e.code !== 'not_found') throw e;
      }
      const pulled = toResolved(await store.pull(ref), ref);
      onPulled?.(pulled);
      return pulled;
    },
    async createRoot(id, image, idBase, size = 65_536) {
      const idmap = idmapOf(idBase, size);
      const r = await store.roots.create({
        id,
        layers: image.layers as Digest[],
        image: image.digest as Digest,
        ...(idmap ? { idmap } : {}),
        // The lease says what the container's record says (its image's layers, its id range),
        // and that record with its create intent is committed before the root is made: a
        // lease a power loss empties is written again from it at the next start
        // (restoreLeases, before anything reads leases), so it needs no fsync of its own. A
        // kill of berthd loses nothing written. (Garbage collection in berthd also keeps every
        // image a record names: images/service.ts.)
        durable: false,
      });
      traversable(dirname(r.path));
      return { path: r.path, upper: r.upper };
    },
    async restoreLeases(containers, size = 65_536) {
      const byId = new Map(containers.map((c) => [c.id, c]));
      const restored: string[] = [];
      const removed: string[] = [];
      // A root that cannot be looked at (its lease unreadable for another reason than a lost
      // flush: EACCES, EISDIR...) is told and left as it is: berthd starts, with the others.
      const failed = (id: string, e: unknown) =>
        console.error(`berthd: container root ${id}: ${(e as Error)?.message ?? String(e)}; left as it is`);
      for (const id of store.roots.unreadable(failed)) {
        try {
          const c = byId.get(id);
          if (!c) {
            // Made by a create whose record the power loss took as well: nothing refers to it.
            await store.roots.remove(id);
            removed.push(id);
            continue;
          }
          const image = await store.records.get(c.imageDigest as Digest);
          // (An image is not removed while a record names it; without its record the layers are
          // unknown, and the root stays unreadable: garbage collection keeps refusing to run.)
          if (!image) continue;
          const idmap = idmapOf(c.idBase ?? undefined, size);
          store.roots.restoreLease({
            id,
            image: image.digest,
            layers: image.layers.map((l) => l.diffId),
            ...(idmap ? { idmap } : {}),
          });
          restored.push(id);
        } catch (e) {
          failed(id, e);
        }
      }
      return { restored, removed };
    },
    root(id) {
      const r = store.roots.get(id);
      return r ? { path: r.path, upper: r.upper } : undefined;
    },
    ensureMounted: (id) => store.roots.mount(id),
    unmount: (id) => store.roots.unmount(id),
    removeRoot: (id) => store.roots.remove(id),
  };
}
