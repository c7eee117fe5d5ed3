import { describe, expect, it } from 'vitest';
import type { BpfInsn } from '../../sys/bpf.ts';
import { encodeInsns } from '../../sys/bpf.ts';
import { type DeviceState, foldDeviceRules } from '../devices.ts';
import { compileDeviceProgram } from './devices.ts';

// The generated program, run by a small interpreter of the opcodes it uses, must decide every
// request exactly as the allowlist state says (the kernel's v1 semantics). The real kernel runs
// it in v2core.root.test.ts.

function run(prog: BpfInsn[], ctx: { type: number; access: number; major: number; minor: number }): number {
  const r = new Array<number>(11).fill(0);
  const mem = [(ctx.access << 16) | ctx.type, ctx.major, ctx.minor];
  for (let pc = 0, steps = 0; pc < prog.length && steps < 10_000; pc++, steps++) {
    const i = prog[pc]!;
    switch (i.code) {
      case 0x61:
        r[i.dst] = mem[i.off / 4]! >>> 0;
        break;
      case 0x57:
        r[i.dst] = (r[i.dst]! & i.imm) >>> 0;
        break;
      case 0x77:
        r[i.dst] = r[i.dst]! >>> i.imm;
        break;
      case 0xbf:
        r[i.dst] = r[i.src]!;
        break;
      case 0xb7:
        r[i.dst] = i.imm;
        break;
      case 0x55:
        if (r[i.dst] !== i.imm >>> 0) pc += i.off;
        break;
      case 0x15:
        if (r[i.dst] === i.imm >>> 0) pc += i.off;
        break;
      case 0x95:
        return r[0]!;
      default:
        throw new Error(`unexpected opcode ${i.code.toString(16)}`);
    }
  }
  throw new Error('fell off the program');
}

/** What the state means, written plainly. */
function reference(
  s: DeviceState,
  ctx: { type: number; access: number; major: number; minor: number },
): number {
  const letter = ctx.type === 1 ? 'b' : 'c';
  const req = (['m', 'r', 'w'] as const).filter((_, i) => ctx.access & (1 << i));
  for (const e of s.exceptions) {
    if (e.type !== 'a' && e.type !== letter) continue;
    if (e.major !== '*' && e.major !== ctx.major) continue;
    if (e.minor !== '*' && e.minor !== ctx.minor) continue;
    if (s.defaultAllow ? req.some((a) => e.access.includes(a)) : req.every((a) => e.access.includes(a))) {
      return s.defaultAllow ? 0 : 1;
    }
  }
  return s.defaultAllow ? 1 : 0;
}

const states: DeviceState[] = [
  foldDeviceRules([]),
  foldDeviceRules([{ allow: false }]),
  foldDeviceRules([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: true, type: 'c', major: 136, access: 'rw' },
    { allow: true, type: 'b', major: 8, minor: 0, access: 'm' },
    { allow: true, type: 'a', major: 10, minor: 200, access: 'rw' },
  ]),
  foldDeviceRules([
    { allow: false, type: 'c', major: 1, minor: 5, access: 'w' },
    { allow: false, type: 'b', access: 'm' },
    { allow: false, type: 'a', major: 4, access: 'rwm' },
  ]),
];

describe('compileDeviceProgram', () => {
  it('decides every request as the allowlist does', () => {
    for (const s of states) {
      const prog = compileDeviceProgram(s);
      for (const type of [1, 2])
        for (let access = 1; access < 8; access++)
          for (const major of [1, 4, 8, 10, 136, 999])
            for (const minor of [0, 3, 5, 200, 7]) {
              const ctx = { type, access, major, minor };
              expect(run(prog, ctx), JSON.stringify({ s, ctx })).toBe(reference(s, ctx));
            }
    }
  });

  it('is small: a fixed prologue, at most 7 instructions per exception, 2 to finish', () => {
    const s = states[2]!;
    const prog = compileDeviceProgram(s);
    expect(prog.length).toBeLessThanOrEqual(6 + 7 * s.exceptions.length + 2);
    expect(compileDeviceProgram(states[1]!)).toHaveLength(8);
  });

  it('encodes struct bpf_insn little-endian with dst in the low nibble', () => {
    const buf = encodeInsns([{ code: 0x61, dst: 2, src: 1, off: 4, imm: -1 }]);
    expect([...buf]).toEqual([0x61, 0x12, 4, 0, 0xff, 0xff, 0xff, 0xff]);
  });
});
