// Needs root: runs real containers through crun and berth-runtime (namespaces, cgroups,
// mounts), each case of the OCI runtime-tools validation suite as reproduced in cases.ts.
// The rule it asserts is the issue's: berth passes every case crun passes on this machine.
// A case crun fails too is reported (in the test's output) but does not fail the suite.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BERTH_RUNTIME_JS } from './runtimes.ts';
import { CASES, type CaseResult, ConformanceSuite } from './suite.ts';

let suite: ConformanceSuite;
const results: Array<{ crun: CaseResult; berth: CaseResult }> = [];

beforeAll(() => {
  if (!existsSync(BERTH_RUNTIME_JS))
    throw new Error(`${BERTH_RUNTIME_JS} is missing: run \`pnpm --filter @berth/runtime build\` first`);
  suite = new ConformanceSuite();
});

afterAll(async () => {
  const left = await suite?.dispose();
  const crun = results.filter((r) => r.crun.pass).length;
  const berth = results.filter((r) => r.berth.pass).length;
  process.stdout.write(
    `\nOCI conformance: crun ${crun}/${results.length}, berth ${berth}/${results.length}\n`,
  );
  for (const r of results.filter((x) => !x.crun.pass || !x.berth.pass))
    process.stdout.write(
      `  ${r.crun.pass ? 'pass' : 'FAIL'} ${r.berth.pass ? 'pass' : 'FAIL'} ${r.crun.name}: ${[r.crun.error && `crun: ${r.crun.error}`, r.berth.error && `berth: ${r.berth.error}`].filter(Boolean).join(' | ')}\n`,
    );
  expect(left ?? [], 'cgroups the suite could not remove').toEqual([]);
});

describe('OCI runtime conformance (runtime-tools validation, crun vs berth)', () => {
  for (const c of CASES) {
    test(`${c.name} [${c.source}]`, async () => {
      const crun = await suite.runCase(suite.runtimes[0]!, c);
      const berth = await suite.runCase(suite.runtimes[1]!, c);
      results.push({ crun, berth });
      // berth must pass what crun passes; what crun fails too is only reported
      if (crun.pass) expect(berth.error ?? 'pass', 'berth fails a case crun passes').toBe('pass');
    });
  }
});
