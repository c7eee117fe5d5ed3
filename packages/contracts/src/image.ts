import { z } from 'zod';
import { ErrorCode } from './errors.ts';

// Images as berthd's API speaks of them: what a caller may ask (pull, import, export, build,
// remove, prune, registry logins) and what it gets back. Inputs are validated here and again
// by the image library (which parses references properly); messages name the field.

/** An image reference as a person types it (`debian:bookworm`, `127.0.0.1:5000/app@sha256:…`) or a digest. */
export const ImageName = z
  .string()
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .refine((s) => !/\s/.test(s) && ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), {
    message: 'must not contain spaces or control characters',
  });

/** "os/arch[/variant]", e.g. linux/arm64/v8. */
export const PlatformName = z
  .string()
  .max(64)
  .regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, 'expected os/arch[/variant], e.g. linux/amd64');

/** Who asked; goes into the agent's event log. */
export const ImageActor = z.string().min(1).max(200).default('unknown');

export const ImagePullInput = z
  .object({ reference: ImageName, platform: PlatformName.optional(), actor: ImageActor })
  .strict();
export type ImagePullInput = z.input<typeof ImagePullInput>;

/** A sha256 content digest, typed `sha256:${string}` as the runtime's image store types it. */
export const Digest = z.templateLiteral(['sha256:', z.string().regex(/^[a-f0-9]{64}$/)]);

/**
 * What is known of every image, whoever keeps it: the runtime's image store records these
 * fields (plus its manifest details) and the agent's API answers with them (plus `usedBy`).
 */
export const ImageSummary = z.object({
  /** Digest of the image manifest: the image's identity. */
  digest: Digest,
  /** Normalised references pointing at it, e.g. docker.io/library/alpine:3.20. */
  references: z.array(z.string()),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }),
  config: z.object({
    user: z.string().optional(),
    env: z.array(z.string()),
    entrypoint: z.array(z.string()).nullable(),
    cmd: z.array(z.string()).nullable(),
    workingDir: z.string().optional(),
    exposedPorts: z.array(z.string()),
    labels: z.record(z.string(), z.string()),
    stopSignal: z.string().optional(),
  }),
  layers: z.array(z.object({ digest: Digest, diffId: Digest, size: z.number(), mediaType: z.string() })),
  /** Bytes of the unpacked layers' file content. */
  size: z.number(),
  created: z.string().optional(),
  source: z.enum(['registry', 'archive', 'builtin', 'debootstrap']),
  addedAt: z.string(),
});
export type ImageSummary = z.infer<typeof ImageSummary>;

export const ImageInfo = ImageSummary.extend({
  /** Containers whose root uses this image (ids); an image in use cannot be removed. */
  usedBy: z.array(z.string()),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

/**
 * What a pull or a build reports while it works. The last event is `done`, or `error` (a
 * subscription reports its failure as an event: a thrown error would make the client retry).
 */
export const ImageProgressEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('resolved'),
    reference: z.string().optional(),
    digest: Digest,
    layers: z.array(z.object({ digest: Digest, size: z.number() })),
  }),
  z.object({
    type: z.literal('layer'),
    digest: Digest,
    phase: z.enum(['download', 'unpack', 'exists', 'done']),
    done: z.number(),
    total: z.number(),
  }),
  z.object({
    type: z.literal('status'),
    phase: z.string(),
    message: z.string(),
    done: z.number().optional(),
    total: z.number().optional(),
  }),
  z.object({ type: z.literal('done'), image: ImageInfo }),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type ImageProgressEvent = z.infer<typeof ImageProgressEvent>;

export const ImageInspectInput = z.object({ image: ImageName }).strict();

export const ImageRemoveInput = z.object({ image: ImageName, actor: ImageActor }).strict();
export const ImageRemoveResult = z.object({ untagged: z.array(z.string()), deleted: Digest.optional() });
export type ImageRemoveResult = z.infer<typeof ImageRemoveResult>;

export const ImagePruneInput = z
  .object({
    /** Also remove images no reference points at (and no container uses). */
    dangling: z.boolean().default(true),
    actor: ImageActor,
  })
  .strict();
export const ImagePruneResult = z.object({
  images: z.array(Digest),
  layers: z.array(Digest),
  blobs: z.array(Digest),
});
export type ImagePruneResult = z.infer<typeof ImagePruneResult>;

const DebianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]{1,80}$/, 'is not a Debian package name');

export const ImageBuildDebianInput = z
  .object({
    suite: z
      .string()
      .regex(/^[a-z][a-z0-9.-]{0,40}$/, 'is not a Debian suite name')
      .default('bookworm'),
    mirror: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(512)
      .optional(),
    variant: z.enum(['minbase', 'buildd']).default('minbase'),
    include: z.array(DebianPackage).max(200).optional(),
    arch: z
      .string()
      .regex(/^[a-z0-9]{2,16}$/, 'is not a Debian architecture')
      .optional(),
    reference: ImageName.optional(),
    rebuild: z.boolean().default(false),
    actor: ImageActor,
  })
  .strict();
export type ImageBuildDebianInput = z.input<typeof ImageBuildDebianInput>;

/** host[:port] of a registry. */
export const RegistryHost = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected host[:port], e.g. registry.example:5000');

export const RegistryLoginInput = z
  .object({
    registry: RegistryHost,
    username: z
      .string()
      .min(1, 'must not be empty')
      .max(256)
      .regex(/^[^:\s]+$/, 'must not contain ":" or spaces'),
    password: z.string().min(1, 'must not be empty').max(4096),
    actor: ImageActor,
  })
  .strict();
export type RegistryLoginInput = z.input<typeof RegistryLoginInput>;

export const RegistryLogoutInput = z.object({ registry: RegistryHost, actor: ImageActor }).strict();

/** The query string of `POST /v1/images/import` (the body is the archive: a tar, maybe gzip). */
export const ImageImportQuery = z
  .object({ reference: ImageName.optional(), platform: PlatformName.optional(), actor: ImageActor })
  .strict();
export type ImageImportQuery = z.input<typeof ImageImportQuery>;

/** The query string of `GET /v1/images/export` (the answer is an OCI image layout tar). */
export const ImageExportQuery = z.object({ image: ImageName }).strict();

/** Raw-byte endpoints beside tRPC (archives are streamed, not JSON). */
export const IMAGE_IMPORT_PATH = '/v1/images/import';
export const IMAGE_EXPORT_PATH = '/v1/images/export';
