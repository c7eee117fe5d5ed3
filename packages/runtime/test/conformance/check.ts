// A case fails by throwing CaseFailure with a sentence saying what it saw.
export class CaseFailure extends Error {}

export function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new CaseFailure(msg);
}
