import { z } from 'zod';
import { ContainerNetworkInfo, NetworkName, RateLimit } from './network.ts';

// A container as callers describe it (the Berth config) and as the agent reports it. Every
// field is checked here so that a bad request is refused before anything changes, with an
// error that names the field. Unknown keys are refused (strict objects): a typo is an error,
// not a silently ignored wish.

const MAX_NAME = 63;

/** A container, group or volume name: no `/`, no `..`, no leading dot or dash, at most 63 characters. */
export const ResourceName = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_NAME, `must be at most ${MAX_NAME} characters`)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'use letters, digits, "_", "." and "-", starting with a letter or digit (no "/")',
  )
  .refine((s) => !s.includes('..'), 'must not contain ".."');
export const ContainerName = ResourceName;

/** An image reference as a person types it: `debian:bookworm`, `docker.io/library/alpine:3.20`, `sha256:…`. */
export const ImageRef = z
  .string()
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/, 'is not an image reference');

const absolutePath = z
  .string()
  .min(1)
  .max(4096, 'must be at most 4096 characters')
  .refine((s) => s.startsWith('/'), 'must be an absolute path')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ".."')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

const shortString = z.string().max(4096, 'must be at most 4096 characters');

/** Environment variables `KEY=value`. */
export const EnvVar = z
  .string()
  .max(32_768, 'must be at most 32768 characters')
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=/s, 'must look like KEY=value');

/** `uid`, `uid:gid` (numbers), or a user name known to the image's /etc/passwd. */
export const UserSpec = z
  .string()
  .max(64)
  .regex(/^([0-9]{1,10}(:[0-9]{1,10})?|[a-z_][a-z0-9_-]*)$/, 'must be uid, uid:gid or a user name');

/** Limits a container or a group may have. All optional; an absent one is unlimited. */
export const Limits = z
  .object({
    /** CPUs' worth of time (1.5 = one and a half cores). */
    cpus: z.number().positive('must be greater than 0').max(4096, 'must be at most 4096').optional(),
    /** Memory in bytes (at least 4 MiB). */
    memoryBytes: z
      .number()
      .int('must be a whole number of bytes')
      .min(4 << 20, 'must be at least 4 MiB')
      .max(2 ** 52, 'is too large')
      .optional(),
    /** Maximum number of processes. */
    pids: z.number().int('must be a whole number').min(1, 'must be at least 1').max(4_194_304).optional(),
    /** Block I/O weight, 10..1000. */
    ioWeight: z.number().int().min(10, 'must be at least 10').max(1000, 'must be at most 1000').optional(),
  })
  .strict();
export type Limits = z.infer<typeof Limits>;

/** `none` (loopback only), `bridge` (the default network), `host`, `container:<name>` (share its
 * network namespace), or the name of a network created with `berth network create`. */
export const NetworkMode = z.string().superRefine((s, ctx) => {
  if (['none', 'bridge', 'host'].includes(s)) return;
  if (s.startsWith('container:')) {
    if (!ContainerName.safeParse(s.slice('container:'.length)).success)
      ctx.addIssue({ code: 'custom', message: 'names no valid container' });
    return;
  }
  const r = NetworkName.safeParse(s);
  if (!r.success)
    ctx.addIssue({
      code: 'custom',
      message: `must be none, bridge, host, container:<name> or a network name (${r.error.issues[0]?.message})`,
    });
});
export type NetworkMode = z.infer<typeof NetworkMode>;

/** A published port: `hostPort` on the host's `hostAddress` forwarded to the container's `containerPort`. */
export const PublishedPort = z
  .object({
    protocol: z.enum(['tcp', 'udp']).default('tcp'),
    /** The host address to listen on (default all IPv4 addresses). */
    hostAddress: z.ipv4('must be an IPv4 address').default('0.0.0.0'),
    hostPort: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be 1-65535')
      .max(65_535, 'must be 1-65535'),
    containerPort: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be 1-65535')
      .max(65_535, 'must be 1-65535'),
  })
  .strict();
export type PublishedPort = z.infer<typeof PublishedPort>;

/** `[hostIP:]hostPort:containerPort[/tcp|/udp]` (the CLI's `--publish`) → a PublishedPort. */
export function parsePublish(spec: string): PublishedPort {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(spec);
  if (!m) throw new Error(`invalid publish "${spec}": must be [hostIP:]hostPort:containerPort[/udp]`);
  const r = PublishedPort.safeParse({
    protocol: m[4] ?? 'tcp',
    ...(m[1] ? { hostAddress: m[1] } : {}),
    hostPort: Number(m[2]),
    containerPort: Number(m[3]),
  });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`invalid publish "${spec}": ${issue.path.join('.')} ${issue.message}`);
  }
  return r.data;
}

export const VolumeMount = z
  .object({
    /** `volume`: a named volume of the agent; `bind`: a host directory inside the agent's allowlist. */
    type: z.enum(['volume', 'bind']),
    /** The volume's name, or the host path. */
    source: z.string().min(1).max(4096),
    /** Where it appears in the container. */
    target: absolutePath,
    readOnly: z.boolean().default(false),
  })
  .strict()
  .superRefine((v, ctx) => {
    const r = v.type === 'volume' ? ResourceName.safeParse(v.source) : absolutePath.safeParse(v.source);
    if (!r.success)
      ctx.addIssue({ code: 'custom', path: ['source'], message: r.error.issues[0]?.message ?? 'is invalid' });
  });
export type VolumeMount = z.infer<typeof VolumeMount>;

/** `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:<max retries>`. */
export const RestartPolicy = z
  .string()
  .regex(
    /^(no|always|unless-stopped|on-failure(:[0-9]{1,4})?)$/,
    'must be no, always, unless-stopped, on-failure or on-failure:<max>',
  );
export type RestartPolicy = z.infer<typeof RestartPolicy>;

export function parseRestartPolicy(p: RestartPolicy): {
  name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maxRetries?: number;
} {
  const [name, max] = p.split(':') as ['no' | 'always' | 'unless-stopped' | 'on-failure', string?];
  return max === undefined ? { name } : { name, maxRetries: Number(max) };
}

const LabelKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'label keys use letters, digits, ".", "_", "/" and "-"');
export const Labels = z
  .record(LabelKey, z.string().max(1024, 'label values must be at most 1024 characters'))
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels');

/** What a caller asks for when creating a container: the Berth config. */
export const ContainerConfig = z
  .object({
    name: ContainerName,
    image: ImageRef,
    /** Replaces the image's entrypoint+cmd when given. */
    command: z.array(shortString).min(1).max(1024).optional(),
    env: z.array(EnvVar).max(1024).default([]),
    cwd: absolutePath.optional(),
    user: UserSpec.optional(),
    hostname: z
      .string()
      .max(63)
      .regex(/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/, 'must be a host name')
      .optional(),
    /** `app`: the image's entrypoint as PID 1; `system`: the image's init (systemd) as PID 1. */
    kind: z.enum(['app', 'system']).default('app'),
    /**
     * Init runs on a console pty held by the container's monitor (`berth console`, `logs`
     * read it). Absent: system containers have one, app containers write to a log file.
     */
    terminal: z.boolean().optional(),
    limits: Limits.default({}),
    network: NetworkMode.default('none'),
    /** Published ports (bridge networks only). */
    ports: z.array(PublishedPort).max(256).default([]),
    /** Per-container rate limits (bridge networks only). */
    rateLimit: RateLimit.optional(),
    volumes: z.array(VolumeMount).max(64).default([]),
    restart: RestartPolicy.default('no'),
    autostart: z.boolean().default(false),
    /** Autostart order (lower first) and the pause after starting this one. */
    autostartOrder: z.number().int().min(0).max(1_000_000).default(0),
    autostartDelayMs: z.number().int().min(0).max(600_000).default(0),
    labels: Labels.default({}),
    /** The group (parent cgroup with shared limits) the container lives in. */
    group: ResourceName.optional(),
    /** Refused unless the agent's config allows privileged containers. */
    privileged: z.boolean().default(false),
    /** Seconds between the stop signal and killing everything (default: the agent's). */
    stopTimeoutSec: z.number().int().min(0).max(3600).optional(),
  })
  .strict();
export type ContainerConfig = z.infer<typeof ContainerConfig>;
export type ContainerConfigInput = z.input<typeof ContainerConfig>;

export const ContainerState = z.enum([
  'creating',
  'created',
  'running',
  'paused',
  'stopping',
  'stopped',
  'deleting',
]);
export type ContainerState = z.infer<typeof ContainerState>;

/** A container as the agent reports it. */
export const ContainerInfo = z.object({
  id: z.string(),
  name: z.string(),
  image: z.string(),
  imageDigest: z.string(),
  state: ContainerState,
  pid: z.number().int().optional(),
  exitCode: z.number().int().nullable(),
  restartCount: z.number().int(),
  group: z.string().nullable(),
  config: ContainerConfig,
  /** Its address, MAC and published ports while it is on a bridge network. */
  network: ContainerNetworkInfo.optional(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type ContainerInfo = z.infer<typeof ContainerInfo>;

/** Every mutation names who asked (a user, `cli:<unix user>`, `panel:<user>`), for the event log. */
export const Actor = z.string().min(1).max(200).default('unknown');

export const ContainerRef = z.object({ name: ContainerName, actor: Actor }).strict();

export const ExecRequest = z
  .object({
    name: ContainerName,
    command: z.array(shortString).min(1).max(1024),
    env: z.array(EnvVar).max(1024).default([]),
    cwd: absolutePath.optional(),
    user: UserSpec.optional(),
    /** Bytes for the command's stdin, base64 (at most 16 MiB). */
    stdinBase64: z.string().max(22_369_624).optional(),
    actor: Actor,
  })
  .strict();
export type ExecRequest = z.input<typeof ExecRequest>;

/** A piece of an exec's output, or its end. */
export const ExecOutput = z.union([
  z.object({ stream: z.enum(['stdout', 'stderr']), dataBase64: z.string() }),
  z.object({ exitCode: z.number().int() }),
]);
export type ExecOutput = z.infer<typeof ExecOutput>;

export const LogsRequest = z
  .object({
    name: ContainerName,
    follow: z.boolean().default(false),
    /** Only the last N lines of what is there. */
    tail: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();

export const FilePushRequest = z
  .object({
    name: ContainerName,
    path: absolutePath,
    /** File content, base64 (at most 64 MiB), or a tar of a directory when `tar` is set. */
    dataBase64: z.string().max(89_478_488),
    tar: z.boolean().default(false),
    mode: z.number().int().min(0).max(0o7777).default(0o644),
    uid: z.number().int().min(0).max(65_535).default(0),
    gid: z.number().int().min(0).max(65_535).default(0),
    actor: Actor,
  })
  .strict();

export const FilePullRequest = z.object({ name: ContainerName, path: absolutePath }).strict();
export const FilePullResult = z.object({
  kind: z.enum(['file', 'directory']),
  /** The file's bytes, or a tar of the directory, base64. */
  dataBase64: z.string(),
  mode: z.number().int(),
});
