import { describe, expect, it } from 'vitest';
import {
  BPF_JMP_JA,
  BPF_JMP_JEQ_K,
  BPF_RET_K,
  BpfAssembler,
  decodeFilter,
  disassemble,
  encodeFilter,
} from '../../src/seccomp/bpf.ts';
import { compileSeccomp, SeccompError } from '../../src/seccomp/index.ts';
import { run, validate } from './bpf-interpreter.ts';

describe('the BPF assembler', () => {
  it('resolves forward labels to relative offsets', () => {
    const asm = new BpfAssembler();
    const yes = asm.label();
    const no = asm.label();
    asm.load(0);
    asm.jump(BPF_JMP_JEQ_K, 7, yes, no);
    asm.place(no);
    asm.ret(1);
    asm.place(yes);
    asm.ret(2);
    const program = asm.assemble();
    expect(program).toEqual([
      { code: 0x20, jt: 0, jf: 0, k: 0 },
      { code: BPF_JMP_JEQ_K, jt: 1, jf: 0, k: 7 },
      { code: BPF_RET_K, jt: 0, jf: 0, k: 1 },
      { code: BPF_RET_K, jt: 0, jf: 0, k: 2 },
    ]);
    expect(run(program, { nr: 7, arch: 0 }).ret).toBe(2);
    expect(run(program, { nr: 8, arch: 0 }).ret).toBe(1);
  });

  it('reaches targets beyond 255 with a ja trampoline, or a copy of the ret it would reach', () => {
    const asm = new BpfAssembler();
    const far = asm.label();
    const farRet = asm.label();
    const near = asm.label();
    asm.load(0);
    asm.jump(BPF_JMP_JEQ_K, 1, far, near);
    asm.place(near);
    asm.jump(BPF_JMP_JEQ_K, 2, farRet, far);
    for (let i = 0; i < 600; i++) asm.load(4); // padding the jumps must cross
    asm.place(far);
    asm.load(0);
    asm.ret(0x1111);
    asm.place(farRet);
    asm.ret(0x2222);
    const program = asm.assemble();
    validate(program);
    // The first jump's true branch goes through `ja`, the second's through a copied `ret`.
    const ja = program[2]!;
    expect(ja.code).toBe(BPF_JMP_JA);
    expect(program[3 + ja.k]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 0 });
    expect(program[4 + ja.k]).toEqual({ code: BPF_RET_K, jt: 0, jf: 0, k: 0x1111 });
    expect(program.filter((i) => i.code === BPF_RET_K && i.k === 0x2222)).toHaveLength(2);
    expect(run(program, { nr: 1, arch: 0 }).ret).toBe(0x1111);
    expect(run(program, { nr: 2, arch: 0 }).ret).toBe(0x2222);
    expect(run(program, { nr: 3, arch: 0 }).ret).toBe(0x1111);
    expect(run(program, { nr: 2, arch: 0 }).steps).toBe(4);
  });

  it('encodes struct sock_filter little-endian and decodes it back', () => {
    const program = [
      { code: 0x20, jt: 0, jf: 0, k: 4 },
      { code: 0x15, jt: 3, jf: 250, k: 0xc000003e },
      { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    ];
    const buf = encodeFilter(program);
    expect(buf.toString('hex')).toBe(
      '2000000004000000' + '1500' + '03fa' + '3e0000c0' + '0600000000' + '00ff7f',
    );
    expect(decodeFilter(buf)).toEqual(program);
    expect(() => decodeFilter(Buffer.alloc(12))).toThrow('multiple of 8');
    expect(disassemble(program)).toBe('   0: ld [4]\n   1: jeq 0xc000003e ? 5 : 252\n   2: ret 0x7fff0000');
  });
});

describe('compileSeccomp', () => {
  it('refuses a host architecture it has no tables for', () => {
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }, 'mips' as never)).toThrow(SeccompError);
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }, 'mips' as never)).toThrow(
      'linux.seccomp: no syscall tables for architecture "mips"',
    );
  });
});
