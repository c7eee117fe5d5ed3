import type { Plan } from './plan.ts';

// The plan's wire format, read by native/plan.c (documented in native/berth.h): "BRT1", then
// records of u32 type, u32 length, payload padded to 4 bytes. Strings end with a NUL.

export const P = {
  NS_FLAGS: 1,
  NS_JOIN: 2,
  UID_MAP: 3,
  GID_MAP: 4,
  CGROUP_PROCS: 5,
  ROOTFS: 6,
  ROOT_RO: 7,
  ROOT_PROPAGATION: 8,
  MOUNT: 9,
  DEVICE: 10,
  SYMLINK: 11,
  MASKED: 12,
  READONLY: 13,
  HOSTNAME: 14,
  DOMAINNAME: 15,
  SYSCTL: 16,
  RLIMIT: 17,
  OOM_SCORE: 18,
  USER: 19,
  CAPS: 20,
  NNP: 21,
  SECCOMP: 22,
  CWD: 23,
  ARG: 24,
  ENV: 25,
  TERMINAL: 26,
  CONSOLE_SOCKET: 27,
  STATE_DIR: 28,
  LOG_MAX: 29,
  AUTOSTART: 30,
  TIMENS: 31,
  TARGET_PID: 32,
  PRESERVE_FDS: 33,
  STDIO: 34,
  REQUEST_ID: 35,
  ATTACH_SOCKET: 36,
  HOOK: 37,
  STATE_JSON: 38,
  RUNTIME_STATE: 39,
  SECCOMP_LISTENER: 40,
  SETGROUPS_DENY: 41,
  ID_MAP_HELPER: 42,
  REPORT_START: 43,
  CGROUP_DELEGATE: 44,
  CELL: 50,
  CELL_PREPARE: 51,
  CELL_DISCARD: 52,
  EXIT_FILE: 60,
} as const;

/**
 * One buffer for the whole plan (a create's plan is ~5 KB, most of it the seccomp filter):
 * `open` a record, write its fields, `close` it (its length and zeroed padding filled in).
 */
class Writer {
  private buf: Buffer;
  private at = 4;
  private start = -1;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 64));
    this.buf.write('BRT1', 0, 'latin1');
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  open(type: number): this {
    this.room(8);
    this.buf.writeUInt32LE(type, this.at);
    this.start = this.at;
    this.at += 8;
    return this;
  }

  u32(...vs: number[]): this {
    this.room(4 * vs.length);
    for (const v of vs) this.at = this.buf.writeUInt32LE(v >>> 0, this.at);
    return this;
  }

  u64(...vs: Array<bigint | number>): this {
    this.room(8 * vs.length);
    for (const v of vs) this.at = this.buf.writeBigUInt64LE(BigInt(v), this.at);
    return this;
  }

  /** Each NUL-terminated. */
  str(...vs: string[]): this {
    for (const v of vs) {
      if (v.includes('\0')) throw new Error(`plan string contains a NUL byte: ${JSON.stringify(v)}`);
      this.room(3 * v.length + 1); // UTF-8: at most 3 bytes per UTF-16 unit
      this.at += this.buf.write(v, this.at, 'utf8');
      this.buf[this.at++] = 0;
    }
    return this;
  }

  bytes(b: Buffer): this {
    this.room(b.length);
    this.at += b.copy(this.buf, this.at);
    return this;
  }

  close(): void {
    const len = this.at - this.start - 8;
    this.buf.writeUInt32LE(len, this.start + 4);
    const pad = (4 - (len % 4)) % 4;
    this.room(pad);
    this.buf.fill(0, this.at, this.at + pad);
    this.at += pad;
  }

  strings(type: number, ...values: string[]): void {
    this.open(type)
      .str(...values)
      .close();
  }

  flag(type: number): void {
    this.open(type).close();
  }

  u64Record(type: number, value: bigint | number): void {
    this.open(type).u64(value).close();
  }

  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

export function encodePlan(plan: Partial<Plan> & Pick<Plan, 'args'>): Buffer {
  // Room for a usual plan in one allocation: its seccomp filter and a few KB of the rest.
  const w = new Writer(4096 + (plan.seccomp?.filter.length ?? 0));
  if (plan.requestId) w.strings(P.REQUEST_ID, plan.requestId);
  w.u64Record(P.NS_FLAGS, plan.namespaces ?? 0);
  for (const j of plan.joins ?? []) w.open(P.NS_JOIN).u32(j.type).str(j.path).close();
  if (plan.uidMap) w.strings(P.UID_MAP, plan.uidMap);
  if (plan.gidMap) w.strings(P.GID_MAP, plan.gidMap);
  if (plan.setgroupsDeny) w.flag(P.SETGROUPS_DENY);
  if (plan.idMapHelper) w.flag(P.ID_MAP_HELPER);
  if (plan.timeOffsets) w.strings(P.TIMENS, plan.timeOffsets);
  // In a warm cell, init is born in its cgroups: nothing to write to cgroup.procs.
  if (plan.cell) w.strings(P.CELL, plan.cell);
  else for (const f of plan.cgroupProcs ?? []) w.strings(P.CGROUP_PROCS, f);
  for (const dir of plan.cgroupDelegate?.dirs ?? [])
    w.open(P.CGROUP_DELEGATE).u32(plan.cgroupDelegate!.uid, plan.cgroupDelegate!.gid).str(dir).close();
  if (plan.cellPrepare) w.flag(P.CELL_PREPARE);
  if (plan.cellDiscard) w.strings(P.CELL_DISCARD, plan.cellDiscard);
  if (plan.rootfs) w.strings(P.ROOTFS, plan.rootfs);
  if (plan.rootReadonly) w.flag(P.ROOT_RO);
  if (plan.rootPropagation !== undefined) w.u64Record(P.ROOT_PROPAGATION, plan.rootPropagation);
  for (const m of plan.mounts ?? [])
    w.open(P.MOUNT)
      .u64(m.flags, m.propagation)
      .u32(m.kind, 0)
      .str(m.source, m.destination, m.type, m.data)
      .close();
  for (const d of plan.devices ?? [])
    w.open(P.DEVICE).u32(d.mode, d.major, d.minor, d.uid, d.gid).str(d.path).close();
  for (const s of plan.symlinks ?? []) w.strings(P.SYMLINK, s.target, s.path);
  for (const p of plan.masked ?? []) w.strings(P.MASKED, p);
  for (const p of plan.readonly ?? []) w.strings(P.READONLY, p);
  if (plan.hostname !== undefined) w.strings(P.HOSTNAME, plan.hostname);
  if (plan.domainname !== undefined) w.strings(P.DOMAINNAME, plan.domainname);
  for (const [k, v] of plan.sysctl ?? []) w.strings(P.SYSCTL, k, v);
  for (const r of plan.rlimits ?? []) w.open(P.RLIMIT).u32(r.resource, 0).u64(r.soft, r.hard).close();
  if (plan.oomScoreAdj !== undefined) w.open(P.OOM_SCORE).u32(plan.oomScoreAdj).close();
  if (plan.uid !== undefined) {
    const groups = plan.additionalGids ?? [];
    w.open(P.USER)
      .u32(plan.uid, plan.gid ?? 0, plan.umask ?? 0xffffffff, groups.length, ...groups)
      .close();
  }
  if (plan.caps) {
    const c = plan.caps;
    w.open(P.CAPS).u64(c.bounding, c.effective, c.permitted, c.inheritable, c.ambient).close();
  }
  if (plan.noNewPrivileges) w.flag(P.NNP);
  if (plan.seccomp) w.open(P.SECCOMP).u32(plan.seccomp.flags, 0).bytes(plan.seccomp.filter).close();
  if (plan.cwd) w.strings(P.CWD, plan.cwd);
  for (const a of plan.args) w.strings(P.ARG, a);
  for (const e of plan.env ?? []) w.strings(P.ENV, e);
  if (plan.terminal)
    w.open(P.TERMINAL)
      .u32(plan.terminal.rows | (plan.terminal.cols << 16))
      .close();
  if (plan.consoleSocket) w.strings(P.CONSOLE_SOCKET, plan.consoleSocket);
  if (plan.attachSocket) w.strings(P.ATTACH_SOCKET, plan.attachSocket);
  if (plan.exitFile) w.strings(P.EXIT_FILE, plan.exitFile);
  if (plan.stateDir) w.strings(P.STATE_DIR, plan.stateDir);
  if (plan.logMax !== undefined) w.u64Record(P.LOG_MAX, plan.logMax);
  if (plan.autostart) w.flag(P.AUTOSTART);
  if (plan.reportStart) w.flag(P.REPORT_START);
  if (plan.targetPid !== undefined) w.u64Record(P.TARGET_PID, plan.targetPid);
  if (plan.stdio) w.strings(P.STDIO, ...plan.stdio);
  if (plan.preserveFds) w.open(P.PRESERVE_FDS).u32(plan.preserveFds).close();
  const hooks = [
    ...(plan.startHooks ?? []).map((h) => [0, h] as const),
    ...(plan.createHooks ?? []).map((h) => [1, h] as const),
    ...(plan.prestartHooks ?? []).map((h) => [2, h] as const),
    ...(plan.createRuntimeHooks ?? []).map((h) => [3, h] as const),
  ];
  for (const [kind, h] of hooks)
    w.open(P.HOOK)
      .u32(kind, h.timeout ?? 0)
      .str(h.path, ...(h.args?.length ? h.args : [h.path]), '', ...(h.env ?? []))
      .close();
  if (plan.stateJson) w.strings(P.STATE_JSON, plan.stateJson);
  if (plan.runtimeStateJson) w.strings(P.RUNTIME_STATE, plan.runtimeStateJson);
  if (plan.seccompListener)
    w.strings(P.SECCOMP_LISTENER, plan.seccompListener.path, plan.seccompListener.state);
  return w.done();
}

/** The framing the zygote reads: u32 length, then the plan. */
export function frame(plan: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(plan.length);
  return Buffer.concat([head, plan]);
}
