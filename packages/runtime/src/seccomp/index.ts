// Seccomp for Berth containers: the OCI `linux.seccomp` schema, the profile -> classic BPF
// compiler (x86_64 with its x86/x32 compat ABIs, aarch64) and Berth's default profile.

export type { SockFilter } from './bpf.ts';
export { BPF_MAXINSNS, decodeFilter, disassemble, encodeFilter } from './bpf.ts';
export type { CompiledSeccomp, CompileOptions } from './compile.ts';
export { actionValue, compileSeccomp, compileSeccompProgram } from './compile.ts';
export type { SeccompProfileOptions, SeccompTemplateRule } from './profile.ts';
export {
  BERTH_SECCOMP_TEMPLATE,
  defaultSeccompProfile,
  seccompProfileFor,
} from './profile.ts';
export type {
  LinuxSeccomp,
  LinuxSeccompArg,
  LinuxSyscall,
  SeccompAction,
  SeccompArchitecture,
  SeccompFilterFlag,
  SeccompOperator,
} from './schema.ts';
export {
  LinuxSeccompArgSchema,
  LinuxSeccompSchema,
  LinuxSyscallSchema,
  parseLinuxSeccomp,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHITECTURES,
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  SECCOMP_FILTER_FLAGS,
  SECCOMP_OPERATORS,
  SeccompError,
  seccompFilterFlags,
} from './schema.ts';
export type { SeccompHostArch } from './syscalls.ts';
export { hostSeccompArch, isKnownSyscall, SECCOMP_HOST_ARCHES, syscallNumber } from './syscalls.ts';
