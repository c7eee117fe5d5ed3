import { join } from 'node:path';
import { checkThrottles, checkWeightDevices, deviceLine, THROTTLES } from '../blockio.ts';
import { type Controller, present, type Step } from '../controller.ts';
import { checkInt } from '../convert.ts';
import { unsupported } from '../errors.ts';
import type { Stats } from '../manager.ts';

// v1 blkio (Documentation/admin-guide/cgroup-v1/blkio-controller.rst). Proportional weight goes
// to BFQ's files when the kernel has them (CFQ's blkio.weight is gone since 5.0).

const FIELDS = [
  'blockIO.weight',
  'blockIO.leafWeight',
  'blockIO.weightDevice',
  'blockIO.throttleReadBpsDevice',
  'blockIO.throttleWriteBpsDevice',
  'blockIO.throttleReadIOPSDevice',
  'blockIO.throttleWriteIOPSDevice',
] as const;

const THROTTLE_FILE = {
  rbps: 'blkio.throttle.read_bps_device',
  wbps: 'blkio.throttle.write_bps_device',
  riops: 'blkio.throttle.read_iops_device',
  wiops: 'blkio.throttle.write_iops_device',
} as const;

export const v1Blkio: Controller = {
  name: 'blkio',
  claims: (r) => present(r, FIELDS),
  plan(r, ctx): Step[] {
    const b = r.blockIO;
    if (!b) return [];
    const file = (f: string) => join(ctx.dir, f);
    const steps: Step[] = [];
    const weightFile = ['blkio.bfq.weight', 'blkio.weight'].find((f) => ctx.fs.exists(file(f)));
    const weightDeviceFile = ['blkio.bfq.weight_device', 'blkio.weight_device'].find((f) =>
      ctx.fs.exists(file(f)),
    );
    if (b.weight !== undefined) {
      const w = checkInt('blockIO.weight', b.weight, 10, 1000);
      if (!weightFile)
        throw unsupported(
          'blockIO.weight',
          'no proportional I/O scheduler here (neither blkio.bfq.weight nor blkio.weight)',
        );
      steps.push({ field: 'blockIO.weight', path: file(weightFile), value: String(w) });
    }
    if (b.leafWeight !== undefined) {
      checkInt('blockIO.leafWeight', b.leafWeight, 10, 1000);
      if (!ctx.fs.exists(file('blkio.leaf_weight')))
        throw unsupported(
          'blockIO.leafWeight',
          'leaf weights went with the CFQ scheduler (no blkio.leaf_weight)',
        );
      steps.push({
        field: 'blockIO.leafWeight',
        path: file('blkio.leaf_weight'),
        value: String(b.leafWeight),
      });
    }
    for (const { field, dev, weight } of b.weightDevice === undefined
      ? []
      : checkWeightDevices(b.weightDevice)) {
      if (!weightDeviceFile) throw unsupported(field, 'no per-device proportional weight file here');
      const path = file(weightDeviceFile);
      const old = deviceLine(ctx.fs.read(path), dev);
      steps.push({ field, path, value: `${dev} ${weight}`, undo: [{ path, value: `${dev} ${old ?? 0}` }] });
    }
    for (const { key, kind } of THROTTLES) {
      if (b[key] === undefined) continue;
      const path = file(THROTTLE_FILE[kind]);
      const current = ctx.fs.read(path);
      checkThrottles(`blockIO.${key}`, b[key]).forEach(({ dev, rate }, i) => {
        steps.push({
          field: `blockIO.${key}[${i}]`,
          path,
          value: `${dev} ${rate}`,
          undo: [{ path, value: `${dev} ${deviceLine(current, dev) ?? 0}` }],
        });
      });
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const devices = new Map<string, NonNullable<Stats['io']>['devices'][number]>();
    // Lines "maj:min Read|Write|Sync|Async|Discard|Total N", then "Total N"; scanned without split.
    const fold = (text: string, read: 'rbytes' | 'rios', write: 'wbytes' | 'wios') => {
      let at = 0;
      while (at < text.length) {
        let end = text.indexOf('\n', at);
        if (end < 0) end = text.length;
        const sp1 = text.indexOf(' ', at);
        const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
        if (sp1 > at && sp2 > sp1 && sp2 < end) {
          const op = text.slice(sp1 + 1, sp2);
          if (op === 'Read' || op === 'Write') {
            const dev = text.slice(at, sp1);
            let d = devices.get(dev);
            if (!d) {
              const colon = dev.indexOf(':');
              d = { major: Number(dev.slice(0, colon)), minor: Number(dev.slice(colon + 1)) };
              devices.set(dev, d);
            }
            d[op === 'Read' ? read : write] = Number(text.slice(sp2 + 1, end));
          }
        }
        at = end + 1;
      }
    };
    fold(ctx.fs.read(ctx.file('blkio.throttle.io_service_bytes_recursive')), 'rbytes', 'wbytes');
    fold(ctx.fs.read(ctx.file('blkio.throttle.io_serviced_recursive')), 'rios', 'wios');
    s.io = { devices: [...devices.values()] };
  },
};
