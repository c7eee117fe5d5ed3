import { checkInt } from './convert.ts';
import { invalid, unsupported } from './errors.ts';
import type { LinuxBlockIO, LinuxThrottleDevice, LinuxWeightDevice } from './resources.ts';

// Validation of OCI blockIO shared by v1 blkio and v2 io.

export type ThrottleKind = 'rbps' | 'wbps' | 'riops' | 'wiops';
export const THROTTLES: Array<{ key: keyof LinuxBlockIO; kind: ThrottleKind }> = [
  { key: 'throttleReadBpsDevice', kind: 'rbps' },
  { key: 'throttleWriteBpsDevice', kind: 'wbps' },
  { key: 'throttleReadIOPSDevice', kind: 'riops' },
  { key: 'throttleWriteIOPSDevice', kind: 'wiops' },
];

export function checkDevice(field: string, d: { major?: unknown; minor?: unknown }): string {
  const major = checkInt(`${field}.major`, d.major, 0, 0xfff);
  const minor = checkInt(`${field}.minor`, d.minor, 0, 0xfffff);
  return `${major}:${minor}`;
}

/** Per-device throttles, validated: rate 0 lifts the limit. */
export function checkThrottles(field: string, list: unknown): Array<{ dev: string; rate: number }> {
  if (!Array.isArray(list)) throw invalid(field, 'must be a list');
  return list.map((d: LinuxThrottleDevice, i) => ({
    dev: checkDevice(`${field}[${i}]`, d),
    rate: checkInt(`${field}[${i}].rate`, d.rate, 0),
  }));
}

/** Per-device weights (v1 scale 10..1000), validated; leaf weights are refused (CFQ is gone). */
export function checkWeightDevices(list: unknown): Array<{ field: string; dev: string; weight: number }> {
  if (!Array.isArray(list)) throw invalid('blockIO.weightDevice', 'must be a list');
  const out: Array<{ field: string; dev: string; weight: number }> = [];
  list.forEach((d: LinuxWeightDevice, i) => {
    const field = `blockIO.weightDevice[${i}]`;
    const dev = checkDevice(field, d);
    if (d.leafWeight !== undefined)
      throw unsupported(`${field}.leafWeight`, 'leaf weights went with the CFQ scheduler');
    if (d.weight !== undefined)
      out.push({ field, dev, weight: checkInt(`${field}.weight`, d.weight, 10, 1000) });
  });
  return out;
}

/** The value a "maj:min value" line file holds for one device (the undo target). */
export function deviceLine(text: string, dev: string): string | undefined {
  for (const line of text.split('\n')) {
    const [d, v] = line.trim().split(/\s+/);
    if (d === dev) return v;
  }
  return undefined;
}
