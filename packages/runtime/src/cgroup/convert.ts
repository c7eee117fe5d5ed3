import { invalid } from './errors.ts';

// Unit conversions between the OCI spec (v1 units) and cgroup v2, and the value checks every
// driver shares. Pure functions, pinned by convert.test.ts.

/**
 * cpu.shares [2, 262144] → cpu.weight [1, 10000] on the quadratic-in-log curve crun and runc
 * use since 2025: it maps the two defaults onto each other (1024 → 100) and the ends onto the
 * ends (2 → 1, 262144 → 10000); the older linear formula mapped 1024 to 39.
 */
export function sharesToWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.min(10000, Math.max(1, Math.ceil(10 ** exponent - 1e-9)));
}

/** blkio.weight [10, 1000] → io.weight [1, 10000], linearly (as runc and crun). */
export function blkioWeightToIoWeight(weight: number): number {
  return Math.round(1 + ((weight - 10) * 9999) / 990);
}

/** A whole number in [min, max], or a clear error naming the field. */
export function checkInt(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalid(field, `must be an integer, got ${JSON.stringify(value)}`);
  if (value < min || value > max) throw invalid(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A byte limit: -1 means unlimited (returned as undefined), else a positive integer. */
export function checkLimit(field: string, value: unknown, min = 0): number | undefined {
  if (value === -1) return undefined;
  return checkInt(field, value, min);
}

/** Parse a kernel CPU/node list ("0-3,8,10-11") into its members. */
export function parseCpuList(field: string, list: string): Set<number> {
  const out = new Set<number>();
  const text = list.trim();
  if (text === '') return out;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw invalid(field, `${JSON.stringify(list)} is not a list like "0-3,8"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw invalid(field, `${JSON.stringify(list)} has a range that runs backwards`);
    if (hi - lo > 65536) throw invalid(field, `${JSON.stringify(list)} has an implausibly long range`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** Check a cpus/mems list against what is online; returns the list trimmed. */
export function checkCpuList(field: string, list: unknown, online: string, what: string): string {
  if (typeof list !== 'string') throw invalid(field, `must be a string like "0-3,8"`);
  const wanted = parseCpuList(field, list);
  if (wanted.size === 0) throw invalid(field, 'is empty');
  const have = parseCpuList(field, online);
  const missing = [...wanted].filter((c) => !have.has(c));
  if (missing.length > 0)
    throw invalid(field, `${what} ${missing.join(',')} not online (online: ${online.trim()})`);
  return list.trim();
}

/** "2MB" / "1GB" / "64KB" → bytes. */
export function pageSizeBytes(field: string, pageSize: unknown): number {
  const m = typeof pageSize === 'string' ? /^(\d+)(KB|MB|GB)$/.exec(pageSize) : null;
  if (!m) throw invalid(field, `${JSON.stringify(pageSize)} is not a page size like "2MB" or "1GB"`);
  return Number(m[1]) * { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'KB' | 'MB' | 'GB'];
}

/** /sys/kernel/mm/hugepages entry "hugepages-2048kB" → the cgroup file spelling "2MB". */
export function hugepageDirToPageSize(dir: string): string | undefined {
  const m = /^hugepages-(\d+)kB$/.exec(dir);
  if (!m) return undefined;
  const kb = Number(m[1]);
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}KB`;
}

/** An access string: a non-empty subset of "rwm". */
export function checkAccess(field: string, access: unknown): string {
  if (access === undefined) return 'rwm';
  if (
    typeof access !== 'string' ||
    access === '' ||
    !/^[rwm]+$/.test(access) ||
    new Set(access).size !== access.length
  ) {
    throw invalid(field, `must be a non-empty subset of "rwm", got ${JSON.stringify(access)}`);
  }
  return access;
}
