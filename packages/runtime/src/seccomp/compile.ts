import {
  BPF_JMP_JEQ_K,
  BPF_JMP_JGE_K,
  BPF_JMP_JGT_K,
  BPF_MAXINSNS,
  BpfAssembler,
  encodeFilter,
  type Label,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_ARGS,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  type SockFilter,
} from './bpf.ts';
import {
  type LinuxSeccompArg,
  parseLinuxSeccomp,
  type SeccompAction,
  SeccompError,
  type SeccompOperator,
} from './schema.ts';
import {
  HOST_ABIS,
  isKnownSyscall,
  type SeccompHostArch,
  type SyscallAbi,
  X32_SYSCALL_BIT,
} from './syscalls.ts';

const EPERM = 1;
const ENOSYS = 38;

export interface CompileOptions {
  /** Where the object sits in the config, for error messages. Default `linux.seccomp`. */
  path?: string;
  /**
   * Syscalls newer than any in Berth's tables get ENOSYS instead of a blocking default action,
   * as runc does, so that libc falls back to an older call instead of failing on EPERM.
   * Default true; it never applies when the default action allows.
   */
  enosysForNewSyscalls?: boolean;
}

export interface CompiledSeccomp {
  program: SockFilter[];
  /** `program` as struct sock_filter[] bytes, ready for seccomp(SECCOMP_SET_MODE_FILTER). */
  filter: Buffer;
  /** The ABIs the filter lets through, e.g. ['x86_64', 'x32', 'x86']; any other arch is killed. */
  abis: string[];
  /** Names that are syscalls only on other architectures, skipped with where they were. */
  skipped: { field: string; name: string }[];
  /** Rules without effect: a syscall's first unconditional rule (`by`) decides it alone. */
  shadowed: { field: string; name: string; by: string }[];
}

/**
 * Compiles an OCI `linux.seccomp` object into a classic-BPF seccomp filter for `arch`. The
 * object is validated here (it may come straight from config.json): a SeccompError names the
 * bad field, e.g. `linux.seccomp.syscalls[3].names[1]: unknown syscall "foo" on x86_64`.
 */
export function compileSeccomp(seccomp: unknown, arch: SeccompHostArch, options?: CompileOptions): Buffer {
  return compileSeccompProgram(seccomp, arch, options).filter;
}

/** The SECCOMP_RET_* value of an action (errnoRet defaults to EPERM, as runc's does). */
export function actionValue(action: SeccompAction, errnoRet?: number): number {
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | ((errnoRet ?? EPERM) & SECCOMP_RET_DATA)) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (SECCOMP_RET_TRACE | ((errnoRet ?? EPERM) & SECCOMP_RET_DATA)) >>> 0;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_NOTIFY':
      return SECCOMP_RET_USER_NOTIF;
  }
}

interface Cond {
  index: number;
  op: SeccompOperator;
  value: bigint;
  valueTwo: bigint;
}
interface CondRule {
  verdict: number;
  conds: Cond[];
  field?: string;
  name?: string;
}
interface SyscallPlan {
  conditional: CondRule[];
  unconditional?: { verdict: number; field: string };
}

type Verdict =
  | { kind: 'ret'; value: number }
  | { kind: 'chain'; rules: CondRule[]; fallback: number; wide: boolean }
  | { kind: 'section'; abi: SyscallAbi['name'] };

interface Interval {
  start: number;
  end: number;
  key: string;
}

export function compileSeccompProgram(
  input: unknown,
  arch: SeccompHostArch,
  options: CompileOptions = {},
): CompiledSeccomp {
  const path = options.path ?? 'linux.seccomp';
  const seccomp = parseLinuxSeccomp(input, path);
  const host = HOST_ABIS[arch];
  if (!host) throw new SeccompError(path, `no syscall tables for architecture "${arch}"`);
  const listed = new Set(seccomp.architectures ?? []);
  // The native ABI is always in (libseccomp's seccomp_init does the same); compat ABIs on request.
  const abis = [host.native, ...host.compat.filter((a) => listed.has(a.architecture))];

  const defaultVerdict = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet);
  const blocking = [
    'SCMP_ACT_ERRNO',
    'SCMP_ACT_KILL',
    'SCMP_ACT_KILL_PROCESS',
    'SCMP_ACT_KILL_THREAD',
    'SCMP_ACT_TRAP',
  ];
  const newVerdict =
    (options.enosysForNewSyscalls ?? true) && blocking.includes(seccomp.defaultAction)
      ? actionValue('SCMP_ACT_ERRNO', ENOSYS)
      : defaultVerdict;

  // 1. Resolve names per ABI, in profile order.
  const plans = new Map<SyscallAbi['name'], Map<number, SyscallPlan>>(abis.map((a) => [a.name, new Map()]));
  const skipped: CompiledSeccomp['skipped'] = [];
  const shadowed: CompiledSeccomp['shadowed'] = [];
  const shadow = (field: string, name: string, by: string) => {
    if (!shadowed.some((x) => x.field === field)) shadowed.push({ field, name, by });
  };
  (seccomp.syscalls ?? []).forEach((rule, i) => {
    const verdict = actionValue(rule.action, rule.errnoRet);
    const alternatives = conditionSets(rule.args ?? []);
    rule.names.forEach((name, j) => {
      const field = `${path}.syscalls[${i}].names[${j}]`;
      let found = false;
      for (const abi of abis) {
        const nr = abi.table.get(name);
        if (nr === undefined) continue;
        found = true;
        // A rule whose action is the default action changes nothing (runc skips these too).
        if (verdict === defaultVerdict) continue;
        const byNr = plans.get(abi.name)!;
        let plan = byNr.get(nr);
        if (!plan) {
          plan = { conditional: [] };
          byNr.set(nr, plan);
        }
        if (alternatives.length === 0) {
          // As in libseccomp (so a config means what it means under runc and crun): the first
          // unconditional rule of a syscall decides it, and overrides its conditional rules.
          if (plan.unconditional) {
            if (plan.unconditional.verdict !== verdict) shadow(field, name, plan.unconditional.field);
          } else {
            plan.unconditional = { verdict, field };
          }
        } else {
          for (const conds of alternatives) plan.conditional.push({ verdict, conds, field, name });
        }
      }
      if (found) return;
      if (!isKnownSyscall(name)) throw new SeccompError(field, `unknown syscall "${name}" on ${arch}`);
      skipped.push({ field, name });
    });
  });

  // 2. Per ABI, the number line [lo, hi] cut into intervals of equal verdict.
  const verdicts = new Map<string, Verdict>();
  const keyOf = (v: Verdict): string => {
    const key =
      v.kind === 'ret'
        ? `ret:${v.value}`
        : v.kind === 'section'
          ? `section:${v.abi}`
          : `chain:${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`;
    if (!verdicts.has(key)) verdicts.set(key, v);
    return key;
  };
  const defaultKey = keyOf({ kind: 'ret', value: defaultVerdict });
  const newKey = keyOf({ kind: 'ret', value: newVerdict });
  const badArchKey = keyOf({ kind: 'ret', value: SECCOMP_RET_KILL_PROCESS });

  const intervalsFor = (abi: SyscallAbi, lo: number, hi: number): Interval[] => {
    const points = new Map<number, string>();
    for (const [nr, plan] of plans.get(abi.name)!) {
      points.set(
        nr,
        plan.unconditional
          ? keyOf({ kind: 'ret', value: plan.unconditional.verdict })
          : keyOf({
              kind: 'chain',
              rules: plan.conditional.map(({ verdict, conds }) => ({ verdict, conds })),
              fallback: defaultVerdict,
              wide: abi.argBits === 64,
            }),
      );
    }
    // Syscalls the table knows above `newest` (x32's own entry points) keep the default action.
    for (const nr of abi.table.values()) if (nr > abi.newest && !points.has(nr)) points.set(nr, defaultKey);
    const out: Interval[] = [];
    const push = (start: number, end: number, key: string) => {
      const last = out.at(-1);
      if (last && last.key === key && last.end + 1 === start) last.end = end;
      else out.push({ start, end, key });
    };
    const gap = (start: number, end: number) => {
      if (start > end) return;
      if (end <= abi.newest) push(start, end, defaultKey);
      else if (start > abi.newest) push(start, end, newKey);
      else {
        push(start, abi.newest, defaultKey);
        push(abi.newest + 1, end, newKey);
      }
    };
    let cursor = lo;
    for (const nr of [...points.keys()].filter((n) => n >= lo && n <= hi).sort((a, b) => a - b)) {
      gap(cursor, nr - 1);
      push(nr, nr, points.get(nr)!);
      cursor = nr + 1;
    }
    gap(cursor, hi);
    return out;
  };

  // 3. Emit: arch dispatch, one binary search tree per ABI, then the verdicts.
  const asm = new BpfAssembler();
  const labels = new Map<string, Label>();
  const labelOf = (key: string): Label => {
    let l = labels.get(key);
    if (!l) {
      l = asm.label();
      labels.set(key, l);
    }
    return l;
  };

  const hasX32 = abis.some((a) => a.name === 'x32');
  const sections = abis.map((abi) => {
    let intervals: Interval[];
    if (abi.name === 'x86_64') {
      intervals = intervalsFor(abi, 0, X32_SYSCALL_BIT - 1);
      intervals.push({
        start: X32_SYSCALL_BIT,
        end: 0xffffffff,
        key: hasX32 ? keyOf({ kind: 'section', abi: 'x32' }) : badArchKey,
      });
    } else if (abi.name === 'x32') {
      intervals = intervalsFor(abi, X32_SYSCALL_BIT, 0xffffffff);
    } else {
      intervals = intervalsFor(abi, 0, 0xffffffff);
    }
    return { abi, intervals, label: labelOf(`section:${abi.name}`) };
  });

  asm.load(SECCOMP_DATA_ARCH);
  const dispatched = sections.filter((s) => s.abi.name !== 'x32');
  dispatched.forEach((s, i) => {
    const next = i === dispatched.length - 1 ? labelOf(badArchKey) : asm.label();
    asm.jump(BPF_JMP_JEQ_K, s.abi.auditArch, s.label, next);
    if (i !== dispatched.length - 1) asm.place(next);
  });
  for (const s of sections) {
    asm.place(s.label);
    // x32 shares x86_64's audit arch; its tree is entered from x86_64's with the number loaded.
    if (s.abi.name !== 'x32') asm.load(SECCOMP_DATA_NR);
    emitTree(asm, s.intervals, labelOf);
  }
  for (const [key, v] of verdicts) {
    if (v.kind === 'section' || !labels.has(key)) continue;
    asm.place(labels.get(key)!);
    if (v.kind === 'ret') asm.ret(v.value);
    else emitChain(asm, v.rules, v.fallback, v.wide);
  }

  const program = asm.assemble();
  if (program.length > BPF_MAXINSNS) {
    throw new SeccompError(
      path,
      `the compiled filter has ${program.length} instructions, more than the kernel's limit of ${BPF_MAXINSNS}`,
    );
  }
  for (const byNr of plans.values()) {
    for (const plan of byNr.values()) {
      if (!plan.unconditional) continue;
      for (const r of plan.conditional) shadow(r.field ?? '', r.name ?? '', plan.unconditional.field);
    }
  }
  return { program, filter: encodeFilter(program), abis: abis.map((a) => a.name), skipped, shadowed };
}

/**
 * A rule's args as alternatives (OR) of conjunctions (AND). Conditions on distinct arguments
 * must all hold; when one argument is named twice, each condition stands alone, as runc does
 * (libseccomp cannot AND two conditions on one argument).
 */
function conditionSets(args: readonly LinuxSeccompArg[]): Cond[][] {
  if (args.length === 0) return [];
  const conds = args.map((a) => ({
    index: a.index,
    op: a.op,
    value: BigInt(a.value),
    valueTwo: BigInt(a.valueTwo ?? 0),
  }));
  const indices = new Set(conds.map((c) => c.index));
  return indices.size === conds.length ? [conds] : conds.map((c) => [c]);
}

/** A balanced binary search over the intervals on `A` (the syscall number), `jge` at each node. */
function emitTree(asm: BpfAssembler, intervals: readonly Interval[], labelOf: (key: string) => Label) {
  const node = (l: number, r: number, here?: Label) => {
    if (here) asm.place(here);
    const mid = (l + r + 1) >> 1;
    const left = mid - 1 === l ? labelOf(intervals[l]!.key) : asm.label();
    const right = mid === r ? labelOf(intervals[r]!.key) : asm.label();
    asm.jump(BPF_JMP_JGE_K, intervals[mid]!.start, right, left);
    if (mid - 1 !== l) node(l, mid - 1, left);
    if (mid !== r) node(mid, r, right);
  };
  if (intervals.length === 1) asm.ja(labelOf(intervals[0]!.key));
  else node(0, intervals.length - 1);
}

function emitChain(asm: BpfAssembler, rules: readonly CondRule[], fallback: number, wide: boolean) {
  for (let i = 0; i < rules.length; ) {
    const rule = rules[i]!;
    // A run of rules `argN == v1`, `argN == v2`, ... with one verdict (Docker's personality
    // values) becomes one set-membership test: a load per word, not per value.
    let j = i;
    while (j < rules.length && sameEqualitySet(rule, rules[j]!)) j++;
    if (j - i >= 2) {
      emitEqualitySet(asm, rules.slice(i, j), wide);
      i = j;
      continue;
    }
    const next = asm.label();
    for (const cond of rule.conds) {
      const ok = asm.label();
      emitCondition(asm, cond, ok, next, wide);
      asm.place(ok);
    }
    asm.ret(rule.verdict);
    asm.place(next);
    i++;
  }
  asm.ret(fallback);
}

function sameEqualitySet(first: CondRule, other: CondRule): boolean {
  const a = first.conds[0];
  const b = other.conds[0];
  return (
    first.conds.length === 1 &&
    other.conds.length === 1 &&
    a !== undefined &&
    b !== undefined &&
    a.op === 'SCMP_CMP_EQ' &&
    b.op === 'SCMP_CMP_EQ' &&
    a.index === b.index &&
    first.verdict === other.verdict
  );
}

function emitEqualitySet(asm: BpfAssembler, rules: readonly CondRule[], wide: boolean) {
  const lo = SECCOMP_DATA_ARGS + 8 * rules[0]!.conds[0]!.index;
  const byHi = new Map<number, number[]>();
  for (const r of rules) {
    const w = word(r.conds[0]!.value);
    const hi = wide ? w.hi : 0;
    byHi.set(hi, [...(byHi.get(hi) ?? []), w.lo]);
  }
  const match = asm.label();
  const after = asm.label();
  const groups = [...byHi];
  groups.forEach(([hiWord, los], g) => {
    const nextGroup = g === groups.length - 1 ? after : asm.label();
    if (wide) {
      const loWord = asm.label();
      asm.load(lo + 4);
      asm.jump(BPF_JMP_JEQ_K, hiWord, loWord, nextGroup);
      asm.place(loWord);
    }
    asm.load(lo);
    los.forEach((v, m) => {
      const nextValue = m === los.length - 1 ? nextGroup : asm.label();
      asm.jump(BPF_JMP_JEQ_K, v, match, nextValue);
      if (m !== los.length - 1) asm.place(nextValue);
    });
    if (g !== groups.length - 1) asm.place(nextGroup);
  });
  asm.place(match);
  asm.ret(rules[0]!.verdict);
  asm.place(after);
}

const word = (v: bigint) => ({ hi: Number((v >> 32n) & 0xffffffffn), lo: Number(v & 0xffffffffn) });

/**
 * Jumps to `ok` when the argument satisfies `cond`, else to `fail`. On 64-bit ABIs the 64-bit
 * value is compared word by word (little-endian: low word first in memory). On 32-bit ABIs
 * (i386, x32) only the low words count, as in libseccomp: the kernel ignores the high half
 * there, and a 64-bit process can put anything in it through `int $0x80`.
 */
function emitCondition(asm: BpfAssembler, cond: Cond, ok: Label, fail: Label, wide: boolean) {
  const lo = SECCOMP_DATA_ARGS + 8 * cond.index;
  const hi = lo + 4;
  const v = word(cond.value);
  if (!wide) {
    const jumps: Record<Exclude<SeccompOperator, 'SCMP_CMP_MASKED_EQ'>, [number, Label, Label]> = {
      SCMP_CMP_EQ: [BPF_JMP_JEQ_K, ok, fail],
      SCMP_CMP_NE: [BPF_JMP_JEQ_K, fail, ok],
      SCMP_CMP_GT: [BPF_JMP_JGT_K, ok, fail],
      SCMP_CMP_GE: [BPF_JMP_JGE_K, ok, fail],
      SCMP_CMP_LT: [BPF_JMP_JGE_K, fail, ok],
      SCMP_CMP_LE: [BPF_JMP_JGT_K, fail, ok],
    };
    asm.load(lo);
    if (cond.op === 'SCMP_CMP_MASKED_EQ') {
      asm.and(v.lo);
      asm.jump(BPF_JMP_JEQ_K, word(cond.valueTwo).lo, ok, fail);
    } else {
      const [code, yes, no] = jumps[cond.op];
      asm.jump(code, v.lo, yes, no);
    }
    return;
  }
  const equal = (yes: Label, no: Label) => {
    const next = asm.label();
    asm.load(hi);
    asm.jump(BPF_JMP_JEQ_K, v.hi, next, no);
    asm.place(next);
    asm.load(lo);
    asm.jump(BPF_JMP_JEQ_K, v.lo, yes, no);
  };
  // Unsigned 64-bit `arg > v` (jgt) or `arg >= v` (jge): decided by the high word unless equal.
  const ordered = (code: number, yes: Label, no: Label) => {
    const sameHi = asm.label();
    asm.load(hi);
    if (v.hi === 0) {
      asm.jump(BPF_JMP_JGT_K, 0, yes, sameHi);
    } else {
      const notAbove = asm.label();
      asm.jump(BPF_JMP_JGT_K, v.hi, yes, notAbove);
      asm.place(notAbove);
      asm.jump(BPF_JMP_JEQ_K, v.hi, sameHi, no);
    }
    asm.place(sameHi);
    asm.load(lo);
    asm.jump(code, v.lo, yes, no);
  };
  switch (cond.op) {
    case 'SCMP_CMP_EQ':
      return equal(ok, fail);
    case 'SCMP_CMP_NE':
      return equal(fail, ok);
    case 'SCMP_CMP_GT':
      return ordered(BPF_JMP_JGT_K, ok, fail);
    case 'SCMP_CMP_GE':
      return ordered(BPF_JMP_JGE_K, ok, fail);
    case 'SCMP_CMP_LT':
      return ordered(BPF_JMP_JGE_K, fail, ok);
    case 'SCMP_CMP_LE':
      return ordered(BPF_JMP_JGT_K, fail, ok);
    case 'SCMP_CMP_MASKED_EQ': {
      // OCI: (arg & value) == valueTwo. A zero mask word needs no load: its part is 0.
      const mask = v;
      const datum = word(cond.valueTwo);
      const afterHi = asm.label();
      if (mask.hi === 0) {
        if (datum.hi !== 0) {
          asm.ja(fail);
          return;
        }
      } else {
        asm.load(hi);
        if (mask.hi !== 0xffffffff) asm.and(mask.hi);
        asm.jump(BPF_JMP_JEQ_K, datum.hi, afterHi, fail);
      }
      asm.place(afterHi);
      if (mask.lo === 0) {
        asm.ja(datum.lo === 0 ? ok : fail);
        return;
      }
      asm.load(lo);
      if (mask.lo !== 0xffffffff) asm.and(mask.lo);
      asm.jump(BPF_JMP_JEQ_K, datum.lo, ok, fail);
      return;
    }
  }
}
