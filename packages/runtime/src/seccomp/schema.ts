import { z } from 'zod';

// The OCI runtime-spec `linux.seccomp` object (config-linux.md#seccomp) and its validation.
// Unknown properties are ignored, as the spec requires of readers; every known property is
// checked, and an error names the field it is about (`linux.seccomp.syscalls[3].action: ...`).

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** Every architecture name the runtime-spec defines (Berth compiles for x86_64 and aarch64 hosts). */
export const SECCOMP_ARCHITECTURES = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_SH',
  'SCMP_ARCH_SHEB',
] as const;
export type SeccompArchitecture = (typeof SECCOMP_ARCHITECTURES)[number];

/** seccomp(2) filter flags the spec names, with their kernel values (linux/seccomp.h). */
export const SECCOMP_FILTER_FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;
export type SeccompFilterFlag = keyof typeof SECCOMP_FILTER_FLAGS;
/** Added by the runtime, not by the config, when an action is SCMP_ACT_NOTIFY. */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

const U64_MAX = (1n << 64n) - 1n;

function oneOf(what: string, allowed: readonly string[]) {
  return (issue: { input?: unknown }) =>
    `unknown ${what} ${JSON.stringify(issue.input)} (expected one of ${allowed.join(', ')})`;
}

/** A uint64 in a config: a JSON number that is exact (or a bigint, for callers that parse as such). */
const Uint64Schema = z
  .union([z.number(), z.bigint()], { error: 'must be an unsigned 64-bit integer' })
  .check((ctx) => {
    const v = ctx.value;
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0) {
        ctx.issues.push({
          code: 'custom',
          input: v,
          message: `must be an unsigned 64-bit integer, got ${v}`,
        });
      } else if (BigInt(v) > U64_MAX) {
        ctx.issues.push({
          code: 'custom',
          input: v,
          message: `${v} is beyond 2^64-1 (a JSON number that large has lost precision)`,
        });
      }
    } else if (v < 0n || v > U64_MAX) {
      ctx.issues.push({ code: 'custom', input: v, message: `must be an unsigned 64-bit integer, got ${v}` });
    }
  });

const ErrnoSchema = z
  .number({ error: 'must be an errno number' })
  .int('must be an integer')
  .min(0, 'must be 0 or more')
  .max(0xffff, 'must fit in the 16 data bits of a seccomp return value (at most 65535)');

export const LinuxSeccompArgSchema = z.object({
  index: z
    .number({ error: 'must be a syscall argument index (0-5)' })
    .int('must be an integer')
    .min(0, 'must be a syscall argument index (0-5)')
    .max(5, 'must be a syscall argument index (0-5)'),
  value: Uint64Schema,
  valueTwo: Uint64Schema.optional(),
  op: z.enum(SECCOMP_OPERATORS, { error: oneOf('operator', SECCOMP_OPERATORS) }),
});

const actionSchema = z.enum(SECCOMP_ACTIONS, { error: oneOf('action', SECCOMP_ACTIONS) });
const errnoActions: readonly SeccompAction[] = ['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE'];

export const LinuxSyscallSchema = z
  .object({
    names: z
      .array(z.string({ error: 'must be a syscall name' }).min(1, 'must not be empty'), {
        error: 'must be a list of syscall names',
      })
      .min(1, 'must name at least one syscall'),
    action: actionSchema,
    errnoRet: ErrnoSchema.optional(),
    args: z.array(LinuxSeccompArgSchema, { error: 'must be a list of argument conditions' }).optional(),
  })
  .check((ctx) => {
    const { action, errnoRet } = ctx.value;
    if (errnoRet !== undefined && !errnoActions.includes(action)) {
      ctx.issues.push({
        code: 'custom',
        input: errnoRet,
        path: ['errnoRet'],
        message: `only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet, not ${action}`,
      });
    }
  });

export const LinuxSeccompSchema = z
  .object({
    defaultAction: actionSchema,
    defaultErrnoRet: ErrnoSchema.optional(),
    architectures: z
      .array(z.enum(SECCOMP_ARCHITECTURES, { error: oneOf('architecture', SECCOMP_ARCHITECTURES) }), {
        error: 'must be a list of SCMP_ARCH_* names',
      })
      .optional(),
    flags: z
      .array(
        z.enum(Object.keys(SECCOMP_FILTER_FLAGS) as [SeccompFilterFlag, ...SeccompFilterFlag[]], {
          error: oneOf('flag', Object.keys(SECCOMP_FILTER_FLAGS)),
        }),
        { error: 'must be a list of SECCOMP_FILTER_FLAG_* names' },
      )
      .optional(),
    listenerPath: z.string({ error: 'must be a path' }).min(1, 'must not be empty').optional(),
    listenerMetadata: z.string({ error: 'must be a string' }).optional(),
    syscalls: z.array(LinuxSyscallSchema, { error: 'must be a list of syscall rules' }).optional(),
  })
  .check((ctx) => {
    const s = ctx.value;
    if (s.defaultErrnoRet !== undefined && !errnoActions.includes(s.defaultAction)) {
      ctx.issues.push({
        code: 'custom',
        input: s.defaultErrnoRet,
        path: ['defaultErrnoRet'],
        message: `only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet, not ${s.defaultAction}`,
      });
    }
    const notify =
      s.defaultAction === 'SCMP_ACT_NOTIFY' || (s.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_NOTIFY');
    if (notify && s.listenerPath === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: s,
        path: ['listenerPath'],
        message: 'is required when an action is SCMP_ACT_NOTIFY (the socket the listener fd is sent to)',
      });
    }
  });

export type LinuxSeccompArg = z.infer<typeof LinuxSeccompArgSchema>;
export type LinuxSyscall = z.infer<typeof LinuxSyscallSchema>;
export type LinuxSeccomp = z.infer<typeof LinuxSeccompSchema>;

/** A bad seccomp configuration: `field` is the full path, e.g. `linux.seccomp.syscalls[3].names[1]`. */
export class SeccompError extends Error {
  readonly code = 'SECCOMP_INVALID';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'SeccompError';
  }
}

/** Renders a zod path under `prefix`: ['syscalls', 3, 'names', 1] -> `linux.seccomp.syscalls[3].names[1]`. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return out;
}

/**
 * Validates an untrusted `linux.seccomp` object; throws a SeccompError naming the first bad
 * field (all problems are listed in the message when there are several).
 */
export function parseLinuxSeccomp(input: unknown, prefix = 'linux.seccomp'): LinuxSeccomp {
  const result = LinuxSeccompSchema.safeParse(input);
  if (result.success) return result.data;
  const [first, ...rest] = result.error.issues;
  if (!first) throw new SeccompError(prefix, 'invalid');
  const err = new SeccompError(fieldPath(prefix, first.path), first.message);
  if (rest.length > 0) {
    err.message += rest.map((i) => `\n${fieldPath(prefix, i.path)}: ${i.message}`).join('');
  }
  throw err;
}

/** The seccomp(2) flags word for a validated config (the runtime adds NEW_LISTENER for NOTIFY). */
export function seccompFilterFlags(seccomp: LinuxSeccomp): number {
  let flags = 0;
  for (const f of seccomp.flags ?? []) flags |= SECCOMP_FILTER_FLAGS[f];
  const notify =
    seccomp.defaultAction === 'SCMP_ACT_NOTIFY' ||
    (seccomp.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_NOTIFY');
  if (notify) flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  return flags;
}
