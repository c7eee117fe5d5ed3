import { type Controller, present } from '../controller.ts';
import { planHugetlb } from '../v1/hugetlb.ts';

// v2 hugetlb: "hugetlb.<size>.max" in bytes, "max" for none.
export const v2Hugetlb: Controller = {
  name: 'hugetlb',
  claims: (r) => present(r, ['hugepageLimits']),
  plan: (r, ctx) => planHugetlb(r, ctx, (size) => `hugetlb.${size}.max`, 'max'),
};
