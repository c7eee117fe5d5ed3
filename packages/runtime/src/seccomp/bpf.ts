// Classic BPF as seccomp accepts it: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }.
// An assembler with symbolic, forward-only labels. Conditional jumps reach at most 255
// instructions ahead; a farther target gets a trampoline (`ja`, 32-bit reach, or a copy of the
// `ret` it would jump to) placed right after the jump, repeated until every jump fits.

export const BPF_LD_W_ABS = 0x20; // A = *(u32 *)(seccomp_data + k)
export const BPF_ALU_AND_K = 0x54; // A &= k
export const BPF_JMP_JA = 0x05; // pc += k
export const BPF_JMP_JEQ_K = 0x15; // pc += (A == k) ? jt : jf
export const BPF_JMP_JGT_K = 0x25; // unsigned A > k
export const BPF_JMP_JGE_K = 0x35; // unsigned A >= k
export const BPF_JMP_JSET_K = 0x45; // A & k
export const BPF_RET_K = 0x06; // return k

/** The kernel's limit on one filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** The farthest a conditional jump reaches (jt/jf are u8). */
export const BPF_MAX_COND_JUMP = 255;

// SECCOMP_RET_* (linux/seccomp.h)
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_ARGS = 16;

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export interface Label {
  readonly id: number;
}

type Item =
  | { kind: 'label'; label: Label }
  | { kind: 'stmt'; code: number; k: number }
  | { kind: 'jcond'; code: number; k: number; jt: Label; jf: Label }
  | { kind: 'ja'; target: Label };

export class BpfAssembler {
  private items: Item[] = [];
  private nextLabel = 0;

  label(): Label {
    return { id: this.nextLabel++ };
  }
  /** Binds `label` to the next instruction emitted. */
  place(label: Label): void {
    this.items.push({ kind: 'label', label });
  }
  load(offset: number): void {
    this.items.push({ kind: 'stmt', code: BPF_LD_W_ABS, k: offset });
  }
  and(k: number): void {
    this.items.push({ kind: 'stmt', code: BPF_ALU_AND_K, k: k >>> 0 });
  }
  ret(k: number): void {
    this.items.push({ kind: 'stmt', code: BPF_RET_K, k: k >>> 0 });
  }
  jump(code: number, k: number, jt: Label, jf: Label): void {
    this.items.push({ kind: 'jcond', code, k: k >>> 0, jt, jf });
  }
  ja(target: Label): void {
    this.items.push({ kind: 'ja', target });
  }

  assemble(): SockFilter[] {
    let items = this.items;
    for (;;) {
      const { pos, insns } = layout(items);
      const target = (l: Label): number => {
        const p = pos.get(l.id);
        if (p === undefined) throw new Error(`BPF label ${l.id} was never placed`);
        return p;
      };
      let changed = false;
      const out: Item[] = [];
      let at = -1;
      for (const item of items) {
        out.push(item);
        if (item.kind !== 'label') at++;
        if (item.kind !== 'jcond') continue;
        const tramps: Item[] = [];
        const fix = (l: Label): Label => {
          if (target(l) - (at + 1) <= BPF_MAX_COND_JUMP) return l;
          changed = true;
          const t = this.label();
          const dest = insns[target(l)];
          tramps.push({ kind: 'label', label: t });
          // Jumping to a `ret` is the same as returning here, and one instruction shorter to run.
          tramps.push(
            dest?.kind === 'stmt' && dest.code === BPF_RET_K
              ? { kind: 'stmt', code: BPF_RET_K, k: dest.k }
              : { kind: 'ja', target: l },
          );
          return t;
        };
        const jt = fix(item.jt);
        const jf = fix(item.jf);
        if (tramps.length > 0) {
          out[out.length - 1] = { ...item, jt, jf };
          out.push(...tramps);
        }
      }
      items = out;
      if (changed) continue;
      return insns.map((insn, i) => {
        const rel = (l: Label): number => {
          const d = target(l) - (i + 1);
          if (d < 0) throw new Error(`BPF jump backwards at ${i}`);
          return d;
        };
        if (insn.kind === 'stmt') return { code: insn.code, jt: 0, jf: 0, k: insn.k };
        if (insn.kind === 'ja') return { code: BPF_JMP_JA, jt: 0, jf: 0, k: rel(insn.target) };
        return { code: insn.code, jt: rel(insn.jt), jf: rel(insn.jf), k: insn.k };
      });
    }
  }
}

type Insn = Exclude<Item, { kind: 'label' }>;

function layout(items: readonly Item[]): { pos: Map<number, number>; insns: Insn[] } {
  const pos = new Map<number, number>();
  const insns: Insn[] = [];
  for (const item of items) {
    if (item.kind === 'label') pos.set(item.label.id, insns.length);
    else insns.push(item);
  }
  return { pos, insns };
}

/** The bytes seccomp(SECCOMP_SET_MODE_FILTER) takes (struct sock_fprog.filter), little-endian. */
export function encodeFilter(program: readonly SockFilter[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

export function decodeFilter(buf: Buffer): SockFilter[] {
  if (buf.length % 8 !== 0) throw new Error(`a BPF program is a multiple of 8 bytes, got ${buf.length}`);
  const out: SockFilter[] = [];
  for (let i = 0; i < buf.length; i += 8) {
    out.push({
      code: buf.readUInt16LE(i),
      jt: buf.readUInt8(i + 2),
      jf: buf.readUInt8(i + 3),
      k: buf.readUInt32LE(i + 4),
    });
  }
  return out;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** A readable listing, one instruction a line (for debugging and `berth-runtime` diagnostics). */
export function disassemble(program: readonly SockFilter[]): string {
  const names: Record<number, string> = {
    [BPF_JMP_JEQ_K]: 'jeq',
    [BPF_JMP_JGT_K]: 'jgt',
    [BPF_JMP_JGE_K]: 'jge',
    [BPF_JMP_JSET_K]: 'jset',
  };
  return program
    .map((insn, i) => {
      const at = String(i).padStart(4, ' ');
      switch (insn.code) {
        case BPF_LD_W_ABS:
          return `${at}: ld [${insn.k}]`;
        case BPF_ALU_AND_K:
          return `${at}: and ${hex(insn.k)}`;
        case BPF_RET_K:
          return `${at}: ret ${hex(insn.k)}`;
        case BPF_JMP_JA:
          return `${at}: ja ${i + 1 + insn.k}`;
        default: {
          const name = names[insn.code] ?? `op${hex(insn.code)}`;
          return `${at}: ${name} ${hex(insn.k)} ? ${i + 1 + insn.jt} : ${i + 1 + insn.jf}`;
        }
      }
    })
    .join('\n');
}
