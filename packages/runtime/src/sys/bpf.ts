// koffi binding for bpf(2), as far as cgroup device programs need it: load a
// BPF_PROG_TYPE_CGROUP_DEVICE program, attach it to a cgroup directory, list and detach the
// programs attached there. The program itself is generated in TypeScript
// (cgroup/v2/devices.ts); this file only moves bytes across the syscall boundary.

import { closeSync, constants, openSync } from 'node:fs';
import { arch } from 'node:process';
import koffi from 'koffi';
import { closeFd } from './index.ts';
import { check, libc } from './libc.ts';

const SYS_bpf: Record<string, number> = { x64: 321, arm64: 280 };

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;

export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;

/** One eBPF instruction (struct bpf_insn). */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** struct bpf_insn[] as the kernel reads it: code u8, dst:4|src:4, off s16, imm s32 (little endian). */
export function encodeInsns(insns: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    buf.writeUInt8(i.code, n * 8);
    buf.writeUInt8(((i.src & 0xf) << 4) | (i.dst & 0xf), n * 8 + 1);
    buf.writeInt16LE(i.off, n * 8 + 2);
    buf.writeInt32LE(i.imm, n * 8 + 4);
  });
  return buf;
}

/** The operations Berth needs, behind an interface so callers can be tested without root. */
export interface Bpf {
  /** Load a cgroup device program; throws with the verifier's log on refusal. Returns its fd. */
  loadDeviceProgram(insns: BpfInsn[], name: string): number;
  attach(cgroupDir: string, progFd: number, attachType: number, flags: number): void;
  detach(cgroupDir: string, progFd: number, attachType: number): void;
  /** Ids of the programs attached directly to the cgroup for `attachType`. */
  query(cgroupDir: string, attachType: number): number[];
  /** A new fd for the program with this id. */
  progFdById(id: number): number;
  close(fd: number): void;
}

interface Libc {
  syscall: (...args: unknown[]) => number | bigint;
}
let fns: Libc | undefined;
function lib(): Libc {
  if (!fns) {
    const l = libc();
    fns = { syscall: l.func('long syscall(long number, ...)') };
  }
  return fns;
}

function bpf(cmd: number, attr: Buffer, what: string): number {
  const nr = SYS_bpf[arch];
  if (nr === undefined) throw new Error(`bpf: no syscall number for ${arch}`);
  return check(lib().syscall(nr, 'int', cmd, 'void *', attr, 'unsigned int', attr.length), 'bpf', what);
}

/** Run `fn` with the cgroup directory open (bpf(2) takes it as target_fd). */
function withDir<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Buffers whose addresses went into an attr must outlive the syscall: referenced until after it. */
function keepAlive(..._buffers: Buffer[]): void {}

export function hostBpf(): Bpf {
  return {
    loadDeviceProgram(insns, name) {
      const code = encodeInsns(insns);
      const license = Buffer.from('Apache\0');
      const log = Buffer.alloc(64 * 1024);
      const attr = Buffer.alloc(128);
      attr.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
      attr.writeUInt32LE(insns.length, 4);
      attr.writeBigUInt64LE(koffi.address(code), 8);
      attr.writeBigUInt64LE(koffi.address(license), 16);
      attr.writeUInt32LE(1, 24); // log_level: the verifier explains a refusal
      attr.writeUInt32LE(log.length, 28);
      attr.writeBigUInt64LE(koffi.address(log), 32);
      Buffer.from(name.slice(0, 15)).copy(attr, 48);
      attr.writeUInt32LE(BPF_CGROUP_DEVICE, 68); // expected_attach_type
      try {
        return bpf(BPF_PROG_LOAD, attr, 'BPF_PROG_LOAD cgroup device');
      } catch (err) {
        const text = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim();
        if (text && err instanceof Error)
          err.message += `\nverifier: ${text.split('\n').slice(-5).join('\n')}`;
        throw err;
      } finally {
        keepAlive(code, license, log);
      }
    },
    attach(cgroupDir, progFd, attachType, flags) {
      withDir(cgroupDir, (cgroupFd) => {
        const attr = Buffer.alloc(32);
        attr.writeUInt32LE(cgroupFd, 0);
        attr.writeUInt32LE(progFd, 4);
        attr.writeUInt32LE(attachType, 8);
        attr.writeUInt32LE(flags, 12);
        bpf(BPF_PROG_ATTACH, attr, `BPF_PROG_ATTACH ${cgroupDir}`);
      });
    },
    detach(cgroupDir, progFd, attachType) {
      withDir(cgroupDir, (cgroupFd) => {
        const attr = Buffer.alloc(32);
        attr.writeUInt32LE(cgroupFd, 0);
        attr.writeUInt32LE(progFd, 4);
        attr.writeUInt32LE(attachType, 8);
        bpf(BPF_PROG_DETACH, attr, `BPF_PROG_DETACH ${cgroupDir}`);
      });
    },
    query(cgroupDir, attachType) {
      return withDir(cgroupDir, (cgroupFd) => {
        const ids = Buffer.alloc(4 * 64);
        const attr = Buffer.alloc(40);
        attr.writeUInt32LE(cgroupFd, 0);
        attr.writeUInt32LE(attachType, 4);
        attr.writeBigUInt64LE(koffi.address(ids), 16);
        attr.writeUInt32LE(64, 24);
        bpf(BPF_PROG_QUERY, attr, `BPF_PROG_QUERY ${cgroupDir}`);
        keepAlive(ids);
        const n = attr.readUInt32LE(24);
        return Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4));
      });
    },
    progFdById(id) {
      const attr = Buffer.alloc(16);
      attr.writeUInt32LE(id, 0);
      return bpf(BPF_PROG_GET_FD_BY_ID, attr, `BPF_PROG_GET_FD_BY_ID ${id}`);
    },
    close(fd) {
      closeFd(fd);
    },
  };
}
