import { sha256 } from './digest.ts';
import type { ImageRecord } from './records.ts';

/** A minimal image record for tests of record stores: `seed` makes its digests, no layers. */
export function imageRecordFixture(seed: string, references: string[]): ImageRecord {
  return {
    digest: sha256(seed),
    references,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    configDigest: sha256(`${seed}-config`),
    platform: { os: 'linux', architecture: 'amd64' },
    config: { env: [], entrypoint: null, cmd: ['/bin/sh'], exposedPorts: [], labels: {} },
    layers: [],
    size: 0,
    source: 'archive',
    addedAt: new Date(0).toISOString(),
  };
}
