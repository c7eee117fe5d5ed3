#!/usr/bin/env node
// Regenerates the syscall tables next to this file from the kernel's UAPI headers installed with
// Debian's linux-libc-dev, so every number can be checked offline against the headers:
//   x86_64  <- asm/unistd_64.h        x86 (i386 compat) <- asm/unistd_32.h
//   x32     <- asm/unistd_x32.h (numbers include __X32_SYSCALL_BIT)
//   aarch64 <- asm-generic/unistd.h with the __ARCH_WANT_* switches of arm64's asm/unistd.h
// The C preprocessor expands the headers (`cc -E -dM`), so nothing is parsed by hand but the
// final `#define __NR_x <expr>` lines.
//
// Usage: node packages/runtime/src/seccomp/tables/generate.mjs [--include DIR] [--check]
// (--check compares with the committed tables instead of writing them; exit 1 on a difference).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const includeArg = process.argv.indexOf('--include');
const includeDir = includeArg > 0 ? process.argv[includeArg + 1] : undefined;
const checkOnly = process.argv.includes('--check');
let differences = 0;

/** Every macro the preprocessor knows after `source`, as name -> replacement text. */
function macros(source, defines = []) {
  const args = ['-E', '-dM', '-x', 'c', ...defines.map((d) => `-D${d}`)];
  if (includeDir) args.push('-I', includeDir);
  args.push('-');
  const out = execFileSync('cc', args, { input: source, encoding: 'utf8' });
  const map = new Map();
  for (const line of out.split('\n')) {
    const m = /^#define (\w+) (.*)$/.exec(line);
    if (m) map.set(m[1], m[2].trim());
  }
  return map;
}

/** Evaluates a replacement made of numbers, macro names, parentheses and `+`. */
function evaluate(expr, map, depth = 0) {
  if (depth > 20) throw new Error(`macro loop at ${expr}`);
  let sum = 0;
  for (const raw of expr.replace(/[()]/g, ' ').split('+')) {
    const term = raw.trim();
    if (/^(0x[0-9a-fA-F]+|\d+)[uUlL]*$/.test(term))
      sum += Number.parseInt(term, term.startsWith('0x') ? 16 : 10);
    else if (map.has(term)) sum += evaluate(map.get(term), map, depth + 1);
    else throw new Error(`cannot evaluate "${term}" in "${expr}"`);
  }
  return sum;
}

// Pseudo-entries of the headers that are not syscalls.
const notSyscalls = new Set(['syscalls', 'arch_specific_syscall']);

function table(source, defines) {
  const map = macros(source, defines);
  const out = new Map();
  for (const [name, expr] of map) {
    if (!name.startsWith('__NR_')) continue;
    const syscall = name.slice('__NR_'.length);
    if (notSyscalls.has(syscall)) continue;
    out.set(syscall, evaluate(expr, map));
  }
  return out;
}

const x32Bit = evaluate('__X32_SYSCALL_BIT', macros('#include <asm/unistd.h>\n'));
if (x32Bit !== 0x40000000) throw new Error(`unexpected __X32_SYSCALL_BIT ${x32Bit}`);

const tables = {
  x86_64: table('#include <asm/unistd_64.h>\n'),
  x86: table('#include <asm/unistd_32.h>\n'),
  x32: table('#include <asm/unistd_x32.h>\n', [`__X32_SYSCALL_BIT=${x32Bit}`]),
  // arm64's uapi asm/unistd.h: these switches, then asm-generic/unistd.h with 64-bit longs.
  aarch64: table('#include <asm-generic/unistd.h>\n', [
    '__ARCH_WANT_RENAMEAT',
    '__ARCH_WANT_NEW_STAT',
    '__ARCH_WANT_SET_GET_RLIMIT',
    '__ARCH_WANT_TIME32_SYSCALLS',
    '__ARCH_WANT_SYS_CLONE3',
    '__ARCH_WANT_MEMFD_SECRET',
    '__BITS_PER_LONG=64',
  ]),
};

// Since Linux 5.1 (pidfd_send_signal, 424) every new syscall gets the same number on every
// architecture (x32 adds its bit). The installed headers (linux-libc-dev 6.1) stop at 450; the
// running kernels are newer, so the later syscalls are listed here by hand from the kernel's
// syscall tables (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h).
// The rule that makes that safe is checked below against the headers for 424..450.
const UNIFIED_FROM = 424;
const newer = [
  // [name, number, arches] (all four unless listed)
  ['cachestat', 451],
  ['fchmodat2', 452],
  ['map_shadow_stack', 453, ['x86_64', 'aarch64']],
  ['futex_wake', 454],
  ['futex_wait', 455],
  ['futex_requeue', 456],
  ['statmount', 457],
  ['listmount', 458],
  ['lsm_get_self_attr', 459],
  ['lsm_set_self_attr', 460],
  ['lsm_list_modules', 461],
  ['mseal', 462],
  ['setxattrat', 463],
  ['getxattrat', 464],
  ['listxattrat', 465],
  ['removexattrat', 466],
  ['open_tree_attr', 467],
  ['file_getattr', 468],
  ['file_setattr', 469],
];

const offset = { x86_64: 0, x86: 0, x32: x32Bit, aarch64: 0 };
for (const [arch, t] of Object.entries(tables)) {
  for (const [name, nr] of t) {
    const plain = nr - offset[arch];
    if (plain < UNIFIED_FROM || plain >= 512) continue;
    for (const [other, u] of Object.entries(tables)) {
      if (u.has(name) && u.get(name) - offset[other] !== plain) {
        throw new Error(`${name}: ${arch} ${plain} but ${other} ${u.get(name) - offset[other]}`);
      }
    }
  }
  for (const [name, nr, only] of newer) {
    if (only && !only.includes(arch)) continue;
    if (t.has(name) && t.get(name) !== nr + offset[arch]) {
      throw new Error(`${name}: header says ${t.get(name)} on ${arch}, list says ${nr}`);
    }
    t.set(name, nr + offset[arch]);
  }
}

// Spot checks against numbers every strace/libseccomp user knows.
const known = {
  x86_64: { read: 0, write: 1, getpid: 39, clone: 56, mount: 165, unshare: 272, keyctl: 250, clone3: 435 },
  x86: { exit: 1, getpid: 20, socketcall: 102, clone: 120, unshare: 310, clone3: 435 },
  x32: { read: x32Bit, getpid: x32Bit + 39, rt_sigaction: x32Bit + 512, execve: x32Bit + 520 },
  aarch64: {
    io_setup: 0,
    mount: 40,
    openat: 56,
    write: 64,
    getpid: 172,
    keyctl: 219,
    clone: 220,
    clone3: 435,
  },
};
for (const [arch, checks] of Object.entries(known)) {
  for (const [name, nr] of Object.entries(checks)) {
    if (tables[arch].get(name) !== nr)
      throw new Error(`${arch} ${name}: got ${tables[arch].get(name)}, want ${nr}`);
  }
}

const constName = { x86_64: 'X86_64', x86: 'X86', x32: 'X32', aarch64: 'AARCH64' };
for (const [arch, t] of Object.entries(tables)) {
  const entries = [...t].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const body = entries.map(([name, nr]) => `  ${name}: ${arch === 'x32' ? `X32_BIT + ${nr - x32Bit}` : nr},`);
  const text = [
    `// Generated by generate.mjs from the installed kernel UAPI headers. Do not edit by hand.`,
    ...(arch === 'x32' ? ['const X32_BIT = 0x40000000;', ''] : []),
    `export const ${constName[arch]}_SYSCALLS: Readonly<Record<string, number>> = {`,
    ...body,
    '};',
    '',
  ].join('\n');
  const file = join(here, `${arch}.ts`);
  if (!checkOnly) writeFileSync(file, text);
  else if (readFileSync(file, 'utf8') !== text) {
    console.error(`${file} differs from what the headers give`);
    differences++;
  }
  console.log(`${arch}: ${entries.length} syscalls, highest ${entries.at(-1)[1] - offset[arch]}`);
}
if (differences > 0) process.exit(1);
