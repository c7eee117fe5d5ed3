import { z } from 'zod';
import type { LinuxResources } from '../cgroup/resources.ts';

// The OCI runtime-spec config.json (v1.x) as far as Berth executes it. Unknown keys pass
// through untouched (the spec lets tools add their own), known ones are checked strictly so
// that an error names the field.

const absolute = z.string().refine((s) => s.startsWith('/'), 'must be an absolute path');
const u32 = z.number().int().min(0).max(0xffffffff);

export const idMappingSchema = z.object({ containerID: u32, hostID: u32, size: u32.min(1) });

export const hookSchema = z.object({
  path: absolute,
  args: z.array(z.string()).optional(),
  env: z.array(z.string()).optional(),
  timeout: z.number().int().min(1).optional(),
});
export type Hook = z.infer<typeof hookSchema>;

const hooks = z.array(hookSchema).optional();

export const mountSchema = z.looseObject({
  destination: z.string().min(1),
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
  uidMappings: z.array(idMappingSchema).optional(),
  gidMappings: z.array(idMappingSchema).optional(),
});
export type Mount = z.infer<typeof mountSchema>;

export const capabilityNamesSchema = z.array(z.string());

export const processSchema = z.looseObject({
  terminal: z.boolean().optional(),
  consoleSize: z.object({ height: u32, width: u32 }).optional(),
  cwd: absolute,
  env: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  commandLine: z.string().optional(),
  user: z.looseObject({
    uid: u32,
    gid: u32,
    umask: u32.optional(),
    additionalGids: z.array(u32).optional(),
    username: z.string().optional(),
  }),
  capabilities: z
    .looseObject({
      bounding: capabilityNamesSchema.optional(),
      effective: capabilityNamesSchema.optional(),
      inheritable: capabilityNamesSchema.optional(),
      permitted: capabilityNamesSchema.optional(),
      ambient: capabilityNamesSchema.optional(),
    })
    .optional(),
  rlimits: z
    .array(z.object({ type: z.string(), soft: z.number().int().min(0), hard: z.number().int().min(0) }))
    .optional(),
  noNewPrivileges: z.boolean().optional(),
  apparmorProfile: z.string().optional(),
  oomScoreAdj: z.number().int().min(-1000).max(1000).optional(),
  selinuxLabel: z.string().optional(),
});
export type ProcessSpec = z.infer<typeof processSchema>;

export const namespaceTypes = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof namespaceTypes)[number];

export const deviceSchema = z.object({
  type: z.enum(['c', 'b', 'u', 'p']),
  path: absolute,
  major: z.number().int().min(0).optional(),
  minor: z.number().int().min(0).optional(),
  fileMode: z.number().int().min(0).max(0o7777).optional(),
  uid: u32.optional(),
  gid: u32.optional(),
});
export type Device = z.infer<typeof deviceSchema>;

const timeOffset = z.object({
  secs: z.number().int(),
  nanosecs: z.number().int().min(0).max(999_999_999).optional(),
});

export const linuxSchema = z.looseObject({
  namespaces: z.array(z.object({ type: z.enum(namespaceTypes), path: absolute.optional() })).optional(),
  uidMappings: z.array(idMappingSchema).optional(),
  gidMappings: z.array(idMappingSchema).optional(),
  timeOffsets: z.object({ monotonic: timeOffset.optional(), boottime: timeOffset.optional() }).optional(),
  devices: z.array(deviceSchema).optional(),
  cgroupsPath: z.string().optional(),
  // Validated field by field by the cgroup manager's apply(), which names the bad value.
  resources: z
    .custom<LinuxResources>((v) => v === undefined || (typeof v === 'object' && v !== null))
    .optional(),
  rootfsPropagation: z
    .enum(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable'])
    .optional(),
  // Validated by the seccomp compiler, which names the bad syscall or action.
  seccomp: z.unknown().optional(),
  sysctl: z.record(z.string(), z.string()).optional(),
  maskedPaths: z.array(absolute).optional(),
  readonlyPaths: z.array(absolute).optional(),
  mountLabel: z.string().optional(),
  personality: z.unknown().optional(),
});

export const configSchema = z.looseObject({
  // SemVer of a 1.x runtime spec; anything else is refused (runtime-tools misc_props).
  ociVersion: z
    .string()
    .regex(
      /^1\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/,
      'must be a 1.x runtime-spec version, e.g. "1.2.0"',
    ),
  root: z.object({ path: z.string().min(1), readonly: z.boolean().optional() }),
  mounts: z.array(mountSchema).optional(),
  process: processSchema.optional(),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  hooks: z
    .looseObject({
      prestart: hooks,
      createRuntime: hooks,
      createContainer: hooks,
      startContainer: hooks,
      poststart: hooks,
      poststop: hooks,
    })
    .optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  linux: linuxSchema.optional(),
});
export type OciConfig = z.infer<typeof configSchema>;

/** Parses config.json text; the error names the offending field. */
export function parseConfig(input: unknown): OciConfig {
  const r = configSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new SpecError(`${formatPath(issue.path)}: ${issue.message}`, formatPath(issue.path));
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(root)';
}

/** A configuration Berth refuses, with the field at fault. */
export class SpecError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}
