import { join } from 'node:path';
import { type Controller, present, type Step } from '../controller.ts';
import {
  type DeviceException,
  type DeviceState,
  foldDeviceRules,
  formatDeviceRule,
  parseDevicesList,
} from '../devices.ts';

// v1 devices controller (Documentation/admin-guide/cgroup-v1/devices.rst). The rules are folded
// into a state first (devices.ts); a live update of an allowlist writes only the difference, so a
// running container never passes through "deny everything".

const key = (e: DeviceException) => `${e.type} ${e.major}:${e.minor}`;

/** The writes that turn the cgroup into `state` from scratch. */
function rewrite(dir: string, state: DeviceState): Array<{ path: string; value: string }> {
  const allow = join(dir, 'devices.allow');
  const deny = join(dir, 'devices.deny');
  if (state.defaultAllow)
    return [
      { path: allow, value: 'a' },
      ...state.exceptions.map((e) => ({ path: deny, value: formatDeviceRule(e) })),
    ];
  return [
    { path: deny, value: 'a' },
    ...state.exceptions.map((e) => ({ path: allow, value: formatDeviceRule(e) })),
  ];
}

/** From one allowlist to another without a moment of "deny all". */
function diff(dir: string, from: DeviceState, to: DeviceState): Array<{ path: string; value: string }> {
  const allow = join(dir, 'devices.allow');
  const deny = join(dir, 'devices.deny');
  const before = new Map(from.exceptions.map((e) => [key(e), e.access]));
  const after = new Map(to.exceptions.map((e) => [key(e), e.access]));
  const out: Array<{ path: string; value: string }> = [];
  for (const [k, acc] of after) {
    const add = [...acc].filter((c) => !(before.get(k) ?? '').includes(c)).join('');
    if (add) out.push({ path: allow, value: `${k} ${add}` });
  }
  for (const [k, acc] of before) {
    const remove = [...acc].filter((c) => !(after.get(k) ?? '').includes(c)).join('');
    if (remove) out.push({ path: deny, value: `${k} ${remove}` });
  }
  return out;
}

export const v1Devices: Controller = {
  name: 'devices',
  claims: (r) => present(r, ['devices']),
  plan(r, ctx): Step[] {
    if (r.devices === undefined) return [];
    const state = foldDeviceRules(r.devices);
    const listed = ctx.fs.read(join(ctx.dir, 'devices.list'));
    const current = parseDevicesList(listed);
    // Undo rebuilds what devices.list showed (in allow-all mode it cannot show deny exceptions).
    const undo = rewrite(ctx.dir, current);
    const writes =
      ctx.live && !current.defaultAllow && !state.defaultAllow
        ? diff(ctx.dir, current, state)
        : rewrite(ctx.dir, state);
    return writes.map((w, i) => ({ field: 'devices', ...w, undo: i === 0 ? undo : [] }));
  },
};
