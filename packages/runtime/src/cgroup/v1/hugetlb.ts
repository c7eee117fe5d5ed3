import { join } from 'node:path';
import { type Controller, type ControllerContext, present, type Step } from '../controller.ts';
import { checkLimit, pageSizeBytes } from '../convert.ts';
import { invalid } from '../errors.ts';
import type { LinuxResources } from '../resources.ts';

// hugetlb: v1 "hugetlb.<size>.limit_in_bytes", v2 "hugetlb.<size>.max" (same sizes, bytes).

export function planHugetlb(
  r: LinuxResources,
  ctx: ControllerContext,
  fileFor: (size: string) => string,
  unlimited: string,
): Step[] {
  const list = r.hugepageLimits;
  if (!list) return [];
  if (!Array.isArray(list)) throw invalid('hugepageLimits', 'must be a list');
  return list.map((h, i) => {
    const field = `hugepageLimits[${i}]`;
    pageSizeBytes(`${field}.pageSize`, h.pageSize);
    if (!ctx.host.hugePageSizes.includes(h.pageSize)) {
      throw invalid(
        `${field}.pageSize`,
        `${h.pageSize} pages are not offered by this kernel (sizes: ${ctx.host.hugePageSizes.join(', ') || 'none'})`,
      );
    }
    const limit = checkLimit(`${field}.limit`, h.limit);
    return {
      field,
      path: join(ctx.dir, fileFor(h.pageSize)),
      value: limit === undefined ? unlimited : String(limit),
    };
  });
}

export const v1Hugetlb: Controller = {
  name: 'hugetlb',
  claims: (r) => present(r, ['hugepageLimits']),
  plan: (r, ctx) => planHugetlb(r, ctx, (size) => `hugetlb.${size}.limit_in_bytes`, '-1'),
};
