// Errors of the cgroup layer: a stable code for programs and a sentence for a person. When the
// problem is one field of the OCI resources, `field` names it (e.g. "memory.swap").

export type CgroupErrorCode =
  | 'CGROUP_INVALID_RESOURCES'
  | 'CGROUP_UNSUPPORTED'
  | 'CGROUP_INVALID_PATH'
  | 'CGROUP_KERNEL_REJECTED'
  | 'CGROUP_TIMEOUT'
  | 'CGROUP_NOT_REMOVED';

export class CgroupError extends Error {
  override readonly name = 'CgroupError';
  constructor(
    readonly code: CgroupErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalid(field: string, message: string): CgroupError {
  return new CgroupError('CGROUP_INVALID_RESOURCES', `${field}: ${message}`, field);
}

export function unsupported(field: string, message: string): CgroupError {
  return new CgroupError('CGROUP_UNSUPPORTED', `${field}: ${message}`, field);
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}
