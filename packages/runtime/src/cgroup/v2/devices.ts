import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, type Bpf, type BpfInsn } from '../../sys/bpf.ts';
import { type Controller, present, type Step } from '../controller.ts';
import { type DeviceException, type DeviceState, foldDeviceRules } from '../devices.ts';

// v2 devices: cgroup v2 has no devices files; access is decided by a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to the cgroup (cgroup-v2.rst "Device controller"). The program is compiled
// here from the same folded allowlist the v1 driver writes (devices.ts), so both mean the same.
//
// The program's context is struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// with access_type = (access << 16) | type, type BPF_DEVCG_DEV_BLOCK 1 / CHAR 2, access
// BPF_DEVCG_ACC_MKNOD 1 / READ 2 / WRITE 4. It returns 1 to allow, 0 to deny.

const DEV_TYPE = { b: 1, c: 2 } as const;
const ACC = { m: 1, r: 2, w: 4 } as const;
const accessBits = (a: string) => [...a].reduce((n, c) => n | ACC[c as keyof typeof ACC], 0);

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K = 0x57;
const ALU64_RSH_K = 0x77;
const ALU64_MOV_X = 0xbf;
const ALU64_MOV_K = 0xb7;
const JMP_JNE_K = 0x55;
const JMP_JEQ_K = 0x15;
const JMP_EXIT = 0x95;

const ins = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({
  code,
  dst,
  src,
  off,
  imm,
});

/**
 * Registers: r2 = device type, r3 = requested access, r4 = major, r5 = minor. Each exception is
 * a block that jumps past itself on mismatch and returns the exception's verdict on match;
 * falling off the end returns the default. An allow exception matches when every requested
 * bit is allowed; a deny exception when any requested bit is denied.
 */
export function compileDeviceProgram(state: DeviceState): BpfInsn[] {
  const out: BpfInsn[] = [
    ins(LDX_MEM_W, 2, 1, 0, 0),
    ins(ALU64_AND_K, 2, 0, 0, 0xffff),
    ins(LDX_MEM_W, 3, 1, 0, 0),
    ins(ALU64_RSH_K, 3, 0, 0, 16),
    ins(LDX_MEM_W, 4, 1, 4, 0),
    ins(LDX_MEM_W, 5, 1, 8, 0),
  ];
  const verdict = state.defaultAllow ? 0 : 1;
  for (const e of state.exceptions) out.push(...block(e, verdict));
  out.push(ins(ALU64_MOV_K, 0, 0, 0, state.defaultAllow ? 1 : 0), ins(JMP_EXIT, 0, 0, 0, 0));
  return out;
}

function block(e: DeviceException, verdict: 0 | 1): BpfInsn[] {
  // Conditions as [instructions..., the jump whose offset is "to the end of the block"].
  const conds: BpfInsn[][] = [];
  if (e.type !== 'a') conds.push([ins(JMP_JNE_K, 2, 0, 0, DEV_TYPE[e.type])]);
  const bits = accessBits(e.access);
  if (bits !== 7) {
    conds.push(
      verdict === 1
        ? [ins(ALU64_MOV_X, 1, 3, 0, 0), ins(ALU64_AND_K, 1, 0, 0, ~bits & 7), ins(JMP_JNE_K, 1, 0, 0, 0)]
        : [ins(ALU64_MOV_X, 1, 3, 0, 0), ins(ALU64_AND_K, 1, 0, 0, bits), ins(JMP_JEQ_K, 1, 0, 0, 0)],
    );
  }
  if (e.major !== '*') conds.push([ins(JMP_JNE_K, 4, 0, 0, e.major)]);
  if (e.minor !== '*') conds.push([ins(JMP_JNE_K, 5, 0, 0, e.minor)]);
  const tail = [ins(ALU64_MOV_K, 0, 0, 0, verdict), ins(JMP_EXIT, 0, 0, 0, 0)];
  const flat = [...conds.flat(), ...tail];
  // Each condition's jump skips to just past the block.
  return flat.map((i, n) =>
    i.code === JMP_JNE_K || i.code === JMP_JEQ_K ? { ...i, off: flat.length - n - 1 } : i,
  );
}

/** The v2 devices "controller": replaces whatever device programs the cgroup has with one for `r.devices`. */
export function v2DevicesController(bpf: () => Bpf): Controller {
  return {
    name: 'devices',
    claims: (r) => present(r, ['devices']),
    plan(r, ctx): Step[] {
      if (r.devices === undefined) return [];
      const program = compileDeviceProgram(foldDeviceRules(r.devices));
      const dir = ctx.dir;
      let oldFds: number[] = [];
      let newFd: number | undefined;
      const release = () => {
        for (const fd of [...oldFds, ...(newFd === undefined ? [] : [newFd])]) bpf().close(fd);
        oldFds = [];
        newFd = undefined;
      };
      return [
        {
          field: 'devices',
          run() {
            const b = bpf();
            oldFds = b.query(dir, BPF_CGROUP_DEVICE).map((id) => b.progFdById(id));
            newFd = b.loadDeviceProgram(program, 'berth_devices');
            // Attach the new program before detaching the old: while both are attached both must
            // allow, so there is never a moment with no filter.
            b.attach(dir, newFd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
            for (const fd of oldFds) b.detach(dir, fd, BPF_CGROUP_DEVICE);
          },
          undo() {
            const b = bpf();
            for (const fd of oldFds) b.attach(dir, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
            if (newFd !== undefined) b.detach(dir, newFd, BPF_CGROUP_DEVICE);
          },
          finish: release,
        },
      ];
    },
  };
}
