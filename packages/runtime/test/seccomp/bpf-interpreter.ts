// A classic-BPF interpreter for seccomp filters, written for the tests: it checks a program the
// way the kernel's bpf_check_classic/seccomp_check_filter do (length, opcodes, in-range forward
// jumps, aligned loads inside struct seccomp_data, a final ret) and runs it on a seccomp_data.
import { decodeFilter, type SockFilter } from '../../src/seccomp/index.ts';

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args?: readonly (bigint | number)[];
}

export interface RunResult {
  ret: number;
  /** Instructions executed, the cost of this syscall in the filter. */
  steps: number;
}

const SECCOMP_DATA_SIZE = 64;

export function validate(program: readonly SockFilter[]): void {
  if (program.length === 0 || program.length > 4096) throw new Error(`bad length ${program.length}`);
  program.forEach((insn, pc) => {
    const after = program.length - pc - 1;
    switch (insn.code) {
      case 0x20: // ld [k]
        if (insn.k % 4 !== 0 || insn.k + 4 > SECCOMP_DATA_SIZE)
          throw new Error(`${pc}: bad load offset ${insn.k}`);
        break;
      case 0x54: // and #k
      case 0x06: // ret #k
        break;
      case 0x05: // ja
        if (insn.k > after) throw new Error(`${pc}: ja out of range`);
        break;
      case 0x15:
      case 0x25:
      case 0x35:
      case 0x45:
        if (insn.jt > after || insn.jf > after) throw new Error(`${pc}: jump out of range`);
        break;
      default:
        throw new Error(`${pc}: opcode 0x${insn.code.toString(16)} not used by seccomp filters here`);
    }
    if (insn.jt > 255 || insn.jf > 255) throw new Error(`${pc}: jt/jf beyond u8`);
  });
  if (program.at(-1)!.code !== 0x06) throw new Error('the last instruction is not a ret');
}

function dataWords(d: SeccompData): Uint32Array {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeInt32LE(d.nr | 0, 0);
  buf.writeUInt32LE(d.arch >>> 0, 4);
  buf.writeBigUInt64LE(d.instructionPointer ?? 0n, 8);
  for (let i = 0; i < 6; i++) buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(d.args?.[i] ?? 0)), 16 + 8 * i);
  return new Uint32Array(buf.buffer, buf.byteOffset, SECCOMP_DATA_SIZE / 4);
}

export function run(filter: Buffer | readonly SockFilter[], data: SeccompData): RunResult {
  const program = Buffer.isBuffer(filter) ? decodeFilter(filter) : filter;
  const words = dataWords(data);
  let a = 0;
  let pc = 0;
  let steps = 0;
  for (;;) {
    const insn = program[pc];
    if (!insn) throw new Error(`pc ${pc} ran off the end`);
    steps++;
    pc++;
    switch (insn.code) {
      case 0x20:
        a = words[insn.k / 4]!;
        break;
      case 0x54:
        a = (a & insn.k) >>> 0;
        break;
      case 0x06:
        return { ret: insn.k >>> 0, steps };
      case 0x05:
        pc += insn.k;
        break;
      case 0x15:
        pc += a === insn.k ? insn.jt : insn.jf;
        break;
      case 0x25:
        pc += a > insn.k ? insn.jt : insn.jf;
        break;
      case 0x35:
        pc += a >= insn.k ? insn.jt : insn.jf;
        break;
      case 0x45:
        pc += (a & insn.k) !== 0 ? insn.jt : insn.jf;
        break;
      default:
        throw new Error(`opcode 0x${insn.code.toString(16)}`);
    }
  }
}

export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** A readable verdict: 'ALLOW', 'KILL_PROCESS', 'ERRNO(1)', 'TRACE(5)'... */
export function verdict(ret: number): string {
  const action = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  for (const [name, value] of Object.entries(RET)) {
    if (value !== action) continue;
    return name === 'ERRNO' || name === 'TRACE' || name === 'TRAP' ? `${name}(${data})` : name;
  }
  return `0x${ret.toString(16)}`;
}
