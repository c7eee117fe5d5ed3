import { expect, test } from 'vitest';
import { parseLinuxSeccomp } from '../seccomp/index.ts';
import { parseConfig } from '../spec/config.ts';
import { parseMountOptions } from '../spec/mounts.ts';
import { capabilityMask } from '../spec/plan.ts';
import { features } from './features.ts';

const doc = features('9.9.9');

test('the features document has the fields the runtime-spec requires, and only recognised names', () => {
  expect(doc.ociVersionMin).toBe('1.0.0');
  expect(doc.ociVersionMax).toMatch(/^1\.\d+\.\d+$/);
  expect(doc.hooks).toContain('createRuntime');
  expect(doc.linux.namespaces).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  expect(doc.linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
  expect(doc.annotations['org.berth.runtime.version']).toBe('9.9.9');
  expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
});

test('every name it lists is one the compiler accepts', () => {
  for (const v of [doc.ociVersionMin, doc.ociVersionMax])
    expect(() => parseConfig({ ociVersion: v, root: { path: 'rootfs' } })).not.toThrow();
  for (const o of doc.mountOptions) expect(() => parseMountOptions([o]), o).not.toThrow();
  expect(() => capabilityMask(doc.linux.capabilities, 'caps')).not.toThrow();
  for (const action of doc.linux.seccomp.actions) {
    const s = { defaultAction: action, ...(action === 'SCMP_ACT_NOTIFY' ? { listenerPath: '/x' } : {}) };
    expect(() => parseLinuxSeccomp(s), action).not.toThrow();
  }
  const base = { defaultAction: 'SCMP_ACT_ALLOW' };
  expect(() =>
    parseLinuxSeccomp({
      ...base,
      architectures: doc.linux.seccomp.archs,
      flags: doc.linux.seccomp.knownFlags,
      syscalls: doc.linux.seccomp.operators.map((op) => ({
        names: ['read'],
        action: 'SCMP_ACT_ERRNO',
        args: [{ index: 0, value: 1, op }],
      })),
    }),
  ).not.toThrow();
});
