import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isKnownSyscall, syscallNumber } from '../../src/seccomp/index.ts';
import { ABIS, X32_SYSCALL_BIT } from '../../src/seccomp/syscalls.ts';

const generator = join(dirname(fileURLToPath(import.meta.url)), '../../src/seccomp/tables/generate.mjs');

describe('syscall tables', () => {
  it('are exactly what the installed kernel headers give (generate.mjs --check)', () => {
    const r = spawnSync(process.execPath, [generator, '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('hold the numbers strace shows', () => {
    expect(syscallNumber('read', 'x86_64')).toBe(0);
    expect(syscallNumber('unshare', 'x86_64')).toBe(272);
    expect(syscallNumber('io_uring_setup', 'x86_64')).toBe(425);
    expect(syscallNumber('fchmodat2', 'x86_64')).toBe(452);
    expect(syscallNumber('unshare', 'aarch64')).toBe(97);
    expect(syscallNumber('renameat', 'aarch64')).toBe(38);
    expect(syscallNumber('open', 'aarch64')).toBeUndefined();
    expect(ABIS.x86.table.get('socketcall')).toBe(102);
    expect(ABIS.x32.table.get('execve')).toBe(X32_SYSCALL_BIT + 520);
    expect(ABIS.x32.table.get('read')).toBe(X32_SYSCALL_BIT);
  });

  it('know which names are syscalls somewhere', () => {
    expect(isKnownSyscall('arm_fadvise64_64')).toBe(true);
    expect(isKnownSyscall('chown32')).toBe(true);
    expect(isKnownSyscall('foo')).toBe(false);
    expect(isKnownSyscall('__proto__')).toBe(false);
    expect(isKnownSyscall('constructor')).toBe(false);
  });
});
