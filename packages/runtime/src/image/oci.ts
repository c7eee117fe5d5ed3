// The OCI image-spec and Docker v2 schema 2 documents Berth reads and writes, as zod schemas:
// every manifest, index and config that comes from a registry or an archive is untrusted and
// is validated here before anything else looks at it.
import { z } from 'zod';
import { isDigest } from './digest.ts';
import { ImageError } from './errors.ts';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.dockerLayerGzip,
  MediaType.dockerForeignLayerGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
];

/** Manifests, indexes and configs larger than this are refused (registries cap them at 4 MiB). */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

const digest = z.string().refine(isDigest, { message: 'expected sha256:<64 lowercase hex digits>' });

export const PlatformSchema = z.object({
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
  platform: PlatformSchema.nullish(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  annotations: z.record(z.string(), z.string()).nullish(),
});
export type ImageIndex = z.infer<typeof IndexSchema>;

export const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema).max(500),
  annotations: z.record(z.string(), z.string()).nullish(),
});
export type ImageManifest = z.infer<typeof ManifestSchema>;

const strings = z.array(z.string()).nullish();
export const ContainerConfigSchema = z.object({
  User: z.string().nullish(),
  ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
  Env: strings,
  Entrypoint: strings,
  Cmd: strings,
  Volumes: z.record(z.string(), z.unknown()).nullish(),
  WorkingDir: z.string().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().nullish(),
});

export const ImageConfigSchema = z.looseObject({
  created: z.string().nullish(),
  author: z.string().nullish(),
  architecture: z.string().min(1),
  os: z.string().min(1),
  variant: z.string().nullish(),
  config: ContainerConfigSchema.nullish(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest) }),
  history: z.array(z.unknown()).nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parses and validates a JSON document; `what` names it in the error (e.g. "manifest sha256:…"). */
export function parseDocument<T>(schema: z.ZodType<T>, bytes: Buffer | string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (e) {
    throw new ImageError('invalid_manifest', `${what}: not valid JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new ImageError('invalid_manifest', `${what}: ${issues(r.error)}`);
  return r.data;
}

/** Which kind of document a manifest-ish blob is, from its media type (or its shape if none). */
export function documentKind(mediaType: string | undefined, json: unknown): 'index' | 'manifest' {
  if (mediaType && INDEX_MEDIA_TYPES.includes(mediaType)) return 'index';
  if (mediaType && MANIFEST_MEDIA_TYPES.includes(mediaType)) return 'manifest';
  if (mediaType)
    throw new ImageError(
      'unsupported_media_type',
      `mediaType: ${mediaType} is not an image manifest or index`,
    );
  if (json && typeof json === 'object' && 'manifests' in json) return 'index';
  return 'manifest';
}

export function checkLayerMediaType(d: Descriptor, field: string): void {
  if (!LAYER_MEDIA_TYPES.includes(d.mediaType))
    throw new ImageError(
      'unsupported_media_type',
      `${field}.mediaType: unsupported layer type ${d.mediaType}`,
    );
}

export function checkConfigMediaType(d: Descriptor, field: string): void {
  if (!CONFIG_MEDIA_TYPES.includes(d.mediaType))
    throw new ImageError(
      'unsupported_media_type',
      `${field}.mediaType: unsupported config type ${d.mediaType}`,
    );
}

/** Checks a manifest's config and layer media types; `where` names it in the error. */
export function checkManifestMediaTypes(m: ImageManifest, where: string): void {
  checkConfigMediaType(m.config, `${where}: config`);
  for (const [i, l] of m.layers.entries()) checkLayerMediaType(l, `${where}: layers[${i}]`);
}
