import { describe, expect, it } from 'vitest';
import {
  defaultSeccompProfile,
  LinuxSeccompSchema,
  parseLinuxSeccomp,
  SECCOMP_ACTIONS,
  SECCOMP_OPERATORS,
  SeccompError,
  seccompFilterFlags,
} from '../../src/seccomp/index.ts';

function errorOf(input: unknown, prefix?: string): string {
  try {
    parseLinuxSeccomp(input, prefix);
  } catch (e) {
    expect(e).toBeInstanceOf(SeccompError);
    return (e as Error).message;
  }
  throw new Error('expected a SeccompError');
}

describe('linux.seccomp schema', () => {
  it('accepts every action and operator of the runtime-spec', () => {
    for (const action of SECCOMP_ACTIONS) {
      for (const op of SECCOMP_OPERATORS) {
        const s = parseLinuxSeccomp({
          defaultAction: 'SCMP_ACT_ALLOW',
          listenerPath: '/run/l.sock',
          syscalls: [{ names: ['kill'], action, args: [{ index: 1, value: 9, valueTwo: 0, op }] }],
        });
        expect(s.syscalls?.[0]?.action).toBe(action);
      }
    }
  });

  it('accepts a full config and ignores unknown properties, as the spec asks', () => {
    const input = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      listenerPath: '/run/seccomp.sock',
      listenerMetadata: 'hello',
      futureField: true,
      syscalls: [
        {
          names: ['personality'],
          action: 'SCMP_ACT_ALLOW',
          comment: 'kept out',
          args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
        },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    };
    const s = parseLinuxSeccomp(input);
    expect(s.architectures).toEqual(input.architectures);
    expect(s).not.toHaveProperty('futureField');
    expect(seccompFilterFlags(s)).toBe(2 | 4);
  });

  it('the default profiles are valid', () => {
    expect(LinuxSeccompSchema.safeParse(defaultSeccompProfile({ arch: 'x86_64' })).success).toBe(true);
    expect(LinuxSeccompSchema.safeParse(defaultSeccompProfile({ arch: 'aarch64' })).success).toBe(true);
  });

  it('names the field of an unknown action', () => {
    expect(
      errorOf({
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW' },
          { names: ['write'], action: 'SCMP_ACT_ALOW' },
        ],
      }),
    ).toMatch(
      /^linux\.seccomp\.syscalls\[1\]\.action: unknown action "SCMP_ACT_ALOW" \(expected one of SCMP_ACT_KILL, /,
    );
    expect(errorOf({ defaultAction: 'ALLOW' })).toMatch(
      /^linux\.seccomp\.defaultAction: unknown action "ALLOW"/,
    );
    expect(errorOf({})).toMatch(/^linux\.seccomp\.defaultAction: unknown action undefined/);
  });

  it('names the field of a bad argument condition', () => {
    const withArg = (arg: unknown) => ({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, arg] },
      ],
    });
    expect(errorOf(withArg({ index: 1, value: 9, op: 'SCMP_CMP_EQUAL' }))).toMatch(
      /^linux\.seccomp\.syscalls\[0\]\.args\[1\]\.op: unknown operator "SCMP_CMP_EQUAL"/,
    );
    expect(errorOf(withArg({ index: 6, value: 9, op: 'SCMP_CMP_EQ' }))).toBe(
      'linux.seccomp.syscalls[0].args[1].index: must be a syscall argument index (0-5)',
    );
    expect(errorOf(withArg({ index: 1, value: -1, op: 'SCMP_CMP_EQ' }))).toBe(
      'linux.seccomp.syscalls[0].args[1].value: must be an unsigned 64-bit integer, got -1',
    );
    expect(errorOf(withArg({ index: 1, value: 2 ** 64, op: 'SCMP_CMP_EQ' }))).toMatch(
      /^linux\.seccomp\.syscalls\[0\]\.args\[1\]\.value: .* beyond 2\^64-1/,
    );
    expect(errorOf(withArg({ index: 1, value: '9', op: 'SCMP_CMP_EQ' }))).toBe(
      'linux.seccomp.syscalls[0].args[1].value: must be an unsigned 64-bit integer',
    );
    // Large values as bigint (for callers that parse JSON losslessly) and exact large numbers.
    expect(() =>
      parseLinuxSeccomp(withArg({ index: 1, value: (1n << 64n) - 1n, op: 'SCMP_CMP_EQ' })),
    ).not.toThrow();
    expect(() =>
      parseLinuxSeccomp(withArg({ index: 1, value: 0xffffffff00000000, op: 'SCMP_CMP_EQ' })),
    ).not.toThrow();
  });

  it('names the field of other mistakes', () => {
    expect(
      errorOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }),
    ).toBe('linux.seccomp.syscalls[0].names: must name at least one syscall');
    expect(
      errorOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['read', ''], action: 'SCMP_ACT_ERRNO' }],
      }),
    ).toBe('linux.seccomp.syscalls[0].names[1]: must not be empty');
    expect(
      errorOf({
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }],
      }),
    ).toBe(
      'linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet, not SCMP_ACT_ALLOW',
    );
    expect(errorOf({ defaultAction: 'SCMP_ACT_KILL', defaultErrnoRet: 1 })).toBe(
      'linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet, not SCMP_ACT_KILL',
    );
    expect(errorOf({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 70000 })).toMatch(
      /^linux\.seccomp\.defaultErrnoRet: must fit in the 16 data bits/,
    );
    expect(errorOf({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_65'] })).toMatch(
      /^linux\.seccomp\.architectures\[0\]: unknown architecture "SCMP_ARCH_X86_65"/,
    );
    expect(errorOf({ defaultAction: 'SCMP_ACT_ERRNO', flags: ['SECCOMP_FILTER_FLAG_TSYNCH'] })).toMatch(
      /^linux\.seccomp\.flags\[0\]: unknown flag "SECCOMP_FILTER_FLAG_TSYNCH"/,
    );
    expect(
      errorOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['connect'], action: 'SCMP_ACT_NOTIFY' }],
      }),
    ).toMatch(/^linux\.seccomp\.listenerPath: is required when an action is SCMP_ACT_NOTIFY/);
  });

  it('uses the prefix it is given, and lists every problem', () => {
    const msg = errorOf(
      { defaultAction: 'X', syscalls: [{ names: ['read'], action: 'Y' }] },
      'spec.linux.seccomp',
    );
    expect(msg.split('\n')).toEqual([
      expect.stringMatching(/^spec\.linux\.seccomp\.defaultAction: unknown action "X"/),
      expect.stringMatching(/^spec\.linux\.seccomp\.syscalls\[0\]\.action: unknown action "Y"/),
    ]);
  });

  it('adds NEW_LISTENER to the flags when an action is NOTIFY', () => {
    const s = parseLinuxSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      flags: ['SECCOMP_FILTER_FLAG_TSYNC'],
      listenerPath: '/run/l.sock',
      syscalls: [{ names: ['connect'], action: 'SCMP_ACT_NOTIFY' }],
    });
    expect(seccompFilterFlags(s)).toBe(1 | 8);
  });
});
