// Test and benchmark helper: builds the same profile with libseccomp (as runc does it) through
// libseccomp-export.c, so Berth's compiler can be held against the library runc and crun use.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { actionValue, type LinuxSeccomp, type SeccompHostArch } from '../../src/seccomp/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const OPS = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
} as const;
const ARCH_NAMES: Record<string, string> = {
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_AARCH64: 'aarch64',
};

/** Compiles the exporter (for an x86_64 machine) into `dir` and returns its path. */
export function buildExporter(dir: string): string {
  const out = join(dir, 'libseccomp-export');
  const cc = spawnSync('cc', ['-O1', '-Wall', '-o', out, join(here, 'libseccomp-export.c'), '-lseccomp'], {
    encoding: 'utf8',
  });
  if (cc.status !== 0)
    throw new Error(`cc libseccomp-export.c failed (is libseccomp-dev installed?): ${cc.stderr}`);
  return out;
}

/** The profile as runc hands it to libseccomp: rules with the default action skipped, repeated
 * argument indices split into one rule per condition; bad arch kills the process, as Berth's. */
export function libseccompFilter(
  exporter: string,
  profile: LinuxSeccomp,
  optimize: 1 | 2 = 1,
  host: SeccompHostArch = 'x86_64',
): Buffer {
  const def = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const lines = [`default ${def}`, `badarch ${0x80000000}`, `optimize ${optimize}`, `arch ${host}`];
  for (const a of profile.architectures ?? []) if (ARCH_NAMES[a]) lines.push(`arch ${ARCH_NAMES[a]}`);
  // libseccomp always includes the machine's own arch; building another host's filter, drop it.
  if (host !== 'x86_64') lines.push('only-listed');
  for (const rule of profile.syscalls ?? []) {
    const action = actionValue(rule.action, rule.errnoRet);
    if (action === def) continue;
    const args = rule.args ?? [];
    const indices = new Set(args.map((a) => a.index));
    const sets = indices.size === args.length ? [args] : args.map((a) => [a]);
    for (const name of rule.names) {
      for (const set of sets) {
        const conds = set.map((a) => `${a.index} ${OPS[a.op]} ${BigInt(a.value)} ${BigInt(a.valueTwo ?? 0)}`);
        lines.push(`rule ${action} ${name} ${set.length} ${conds.join(' ')}`);
      }
    }
  }
  const r = spawnSync(exporter, [], { input: `${lines.join('\n')}\n`, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`libseccomp-export failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
