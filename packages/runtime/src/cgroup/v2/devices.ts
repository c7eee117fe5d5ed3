import { type Controller, present, type Step } from '../controller.ts';
import { foldDeviceRules } from '../devices.ts';
import { unsupported } from '../errors.ts';

// v2 devices: a BPF_CGROUP_DEVICE program compiled from the folded allowlist (devices.ts).
export const v2Devices: Controller = {
  name: 'devices',
  claims: (r) => present(r, ['devices']),
  plan(r): Step[] {
    if (r.devices === undefined) return [];
    foldDeviceRules(r.devices);
    throw unsupported('devices', 'the cgroup v2 device program is not loaded yet');
  },
};
