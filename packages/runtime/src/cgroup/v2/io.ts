import { join } from 'node:path';
import { checkThrottles, checkWeightDevices, deviceLine, THROTTLES } from '../blockio.ts';
import { type Controller, present, type Step } from '../controller.ts';
import { blkioWeightToIoWeight, checkInt } from '../convert.ts';
import { unsupported } from '../errors.ts';
import type { Stats } from '../manager.ts';
import { parseNestedKeyed } from '../parse.ts';

// v2 io (cgroup-v2.rst "IO"). Weights: BFQ's io.bfq.weight takes v1's 1..1000 scale as is;
// otherwise io.weight (1..10000) takes the converted value. Throttles: io.max
// "maj:min rbps=.. wbps=.. riops=.. wiops=..", "max" for none.

const FIELDS = [
  'blockIO.weight',
  'blockIO.weightDevice',
  'blockIO.throttleReadBpsDevice',
  'blockIO.throttleWriteBpsDevice',
  'blockIO.throttleReadIOPSDevice',
  'blockIO.throttleWriteIOPSDevice',
] as const;

export const v2Io: Controller = {
  name: 'io',
  claims: (r) => present(r, FIELDS),
  plan(r, ctx): Step[] {
    const b = r.blockIO;
    if (!b) return [];
    const file = (f: string) => join(ctx.dir, f);
    const bfq = ctx.fs.exists(file('io.bfq.weight'));
    const weightPath = file(bfq ? 'io.bfq.weight' : 'io.weight');
    const conv = (w: number) => String(bfq ? w : blkioWeightToIoWeight(w));
    const steps: Step[] = [];
    if (b.weight !== undefined) {
      const w = checkInt('blockIO.weight', b.weight, 10, 1000);
      if (!ctx.fs.exists(weightPath))
        throw unsupported('blockIO.weight', 'no io.weight or io.bfq.weight here');
      const old = parseNestedKeyed(ctx.fs.read(weightPath)).get('default');
      const oldDefault = old ? [...old.keys()][0] : undefined;
      steps.push({
        field: 'blockIO.weight',
        path: weightPath,
        value: `default ${conv(w)}`,
        undo: oldDefault ? [{ path: weightPath, value: `default ${oldDefault}` }] : [],
      });
    }
    for (const { field, dev, weight } of b.weightDevice === undefined
      ? []
      : checkWeightDevices(b.weightDevice)) {
      // "maj:min default" drops a per-device override (the undo when there was none).
      const had = deviceLine(ctx.fs.read(weightPath), dev);
      steps.push({
        field,
        path: weightPath,
        value: `${dev} ${conv(weight)}`,
        undo: [{ path: weightPath, value: `${dev} ${had ?? 'default'}` }],
      });
    }
    const perDevice = new Map<string, Map<string, string>>();
    for (const { key, kind } of THROTTLES) {
      if (b[key] === undefined) continue;
      for (const { dev, rate } of checkThrottles(`blockIO.${key}`, b[key])) {
        let m = perDevice.get(dev);
        if (!m) {
          m = new Map();
          perDevice.set(dev, m);
        }
        m.set(kind, rate === 0 ? 'max' : String(rate));
      }
    }
    if (perDevice.size > 0) {
      const path = file('io.max');
      const current = parseNestedKeyed(ctx.fs.read(path));
      for (const [dev, kv] of perDevice) {
        const before = current.get(dev);
        const undo = ['rbps', 'wbps', 'riops', 'wiops']
          .map((k) => `${k}=${before?.get(k) ?? 'max'}`)
          .join(' ');
        steps.push({
          field: 'blockIO.throttle',
          path,
          value: `${dev} ${[...kv].map(([k, v]) => `${k}=${v}`).join(' ')}`,
          undo: [{ path, value: `${dev} ${undo}` }],
        });
      }
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const devices: NonNullable<Stats['io']>['devices'] = [];
    for (const [dev, kv] of parseNestedKeyed(ctx.fs.read(ctx.file('io.stat')))) {
      const [major, minor] = dev.split(':').map(Number);
      if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) continue;
      const d: (typeof devices)[number] = { major, minor };
      for (const k of ['rbytes', 'wbytes', 'rios', 'wios'] as const) {
        const v = kv.get(k);
        if (v !== undefined) d[k] = Number(v);
      }
      devices.push(d);
    }
    s.io = { devices };
  },
};
