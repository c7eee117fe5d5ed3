import { checkAccess } from './convert.ts';
import { invalid } from './errors.ts';
import type { LinuxDeviceCgroup } from './resources.ts';

// The device allowlist as state, shared by both drivers: the OCI rules are folded in order with
// the kernel's own v1 semantics (security/device_cgroup.c, devcgroup_update_access), giving a
// default verdict plus exceptions. v1 writes that state to devices.allow/deny; v2 compiles the
// same state into a BPF_CGROUP_DEVICE program, so both drivers mean the same thing.

export type DeviceType = 'b' | 'c' | 'a';
export interface DeviceException {
  /** 'a' here means "block and char" for a wildcard exception such as "a 1:3 r". */
  type: DeviceType;
  major: number | '*';
  minor: number | '*';
  access: string; // subset of "rwm", in that order
}
export interface DeviceState {
  defaultAllow: boolean;
  /** The exceptions to the default: denied when defaultAllow, allowed otherwise. */
  exceptions: DeviceException[];
}

export const ALLOW_ALL: DeviceState = { defaultAllow: true, exceptions: [] };

const ORDER = 'rwm';
const normAccess = (a: string) => [...ORDER].filter((c) => a.includes(c)).join('');
const sameDevice = (a: DeviceException, b: DeviceException) =>
  a.type === b.type && a.major === b.major && a.minor === b.minor;

function checkNumber(field: string, v: unknown): number | '*' {
  if (v === undefined || v === null || v === -1) return '*';
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xfffff) {
    throw invalid(field, `must be a device number 0..1048575 (or absent for any), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validate OCI device rules and fold them onto `start` (a new cgroup starts allowing all). */
export function foldDeviceRules(rules: unknown, start: DeviceState = ALLOW_ALL): DeviceState {
  if (!Array.isArray(rules)) throw invalid('devices', 'must be a list of rules');
  let state: DeviceState = {
    defaultAllow: start.defaultAllow,
    exceptions: start.exceptions.map((e) => ({ ...e })),
  };
  rules.forEach((rule: LinuxDeviceCgroup, i) => {
    const field = `devices[${i}]`;
    if (typeof rule !== 'object' || rule === null) throw invalid(field, 'must be an object');
    if (typeof rule.allow !== 'boolean') throw invalid(`${field}.allow`, 'must be true or false');
    const type = rule.type ?? 'a';
    if (type !== 'a' && type !== 'b' && type !== 'c')
      throw invalid(`${field}.type`, `must be "a", "b" or "c", got ${JSON.stringify(type)}`);
    const ex: DeviceException = {
      type,
      major: checkNumber(`${field}.major`, rule.major),
      minor: checkNumber(`${field}.minor`, rule.minor),
      access: normAccess(checkAccess(`${field}.access`, rule.access)),
    };
    if (type === 'a' && ex.major === '*' && ex.minor === '*') {
      // "a" resets: everything allowed or everything denied, no exceptions (kernel: DEVCG_ALL).
      state = { defaultAllow: rule.allow, exceptions: [] };
      return;
    }
    if (rule.allow !== state.defaultAllow) {
      // An exception to the default: add it, merging access with an identical one.
      const same = state.exceptions.find((e) => sameDevice(e, ex));
      if (same) same.access = normAccess(same.access + ex.access);
      else state.exceptions.push(ex);
    } else {
      // Same verdict as the default: take these access bits out of an identical exception.
      for (const e of state.exceptions)
        if (sameDevice(e, ex)) e.access = [...e.access].filter((c) => !ex.access.includes(c)).join('');
      state.exceptions = state.exceptions.filter((e) => e.access !== '');
    }
  });
  return state;
}

/** The v1 rule text for one exception: "c 1:3 rw". */
export function formatDeviceRule(e: DeviceException): string {
  return `${e.type} ${e.major}:${e.minor} ${e.access}`;
}

/** Parse v1 devices.list: "a *:* rwm" (allow-all: deny exceptions are not listed) or allowed rules. */
export function parseDevicesList(text: string): DeviceState {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const exceptions: DeviceException[] = [];
  for (const line of lines) {
    const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line);
    if (!m) continue;
    const e: DeviceException = {
      type: m[1] as DeviceType,
      major: m[2] === '*' ? '*' : Number(m[2]),
      minor: m[3] === '*' ? '*' : Number(m[3]),
      access: m[4]!,
    };
    if (e.type === 'a' && e.major === '*' && e.minor === '*') return { defaultAllow: true, exceptions: [] };
    exceptions.push(e);
  }
  return { defaultAllow: false, exceptions };
}
