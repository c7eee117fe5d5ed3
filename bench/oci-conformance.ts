// `pnpm bench oci-conformance [FILTER]`: runs Berth's OCI conformance cases (reproductions of
// the runtime-tools validation suite, packages/runtime/test/conformance) against crun and
// berth-runtime side by side and prints, per case, who passes; then the totals and the rule
// CI asserts: berth passes every case crun passes. Needs root and a built berth-runtime
// (`pnpm --filter @berth/runtime build`).
import { CASES, ConformanceSuite } from '../packages/runtime/test/conformance/suite.ts';

const filter = process.argv[2];
const cases = CASES.filter((c) => !filter || c.name.includes(filter) || c.source.includes(filter));
const suite = new ConformanceSuite();
const rows: Array<{ name: string; source: string; crun: boolean; berth: boolean; why: string }> = [];
const t0 = Date.now();
try {
  for (const c of cases) {
    const [crun, berth] = [
      await suite.runCase(suite.runtimes[0]!, c),
      await suite.runCase(suite.runtimes[1]!, c),
    ];
    rows.push({
      name: c.name,
      source: c.source,
      crun: crun.pass,
      berth: berth.pass,
      why: [crun.error && `crun: ${crun.error}`, berth.error && `berth: ${berth.error}`]
        .filter(Boolean)
        .join(' | '),
    });
    process.stderr.write(`${crun.pass ? 'ok  ' : 'FAIL'} ${berth.pass ? 'ok  ' : 'FAIL'} ${c.name}\n`);
  }
} finally {
  const left = await suite.dispose();
  if (left.length) process.stderr.write(`cgroups left behind: ${left.join(' ')}\n`);
}

const w = Math.max(...rows.map((r) => r.name.length), 4);
const mark = (b: boolean) => (b ? 'pass' : 'FAIL');
console.log(`${'case'.padEnd(w)}  crun  berth`);
console.log(`${'-'.repeat(w)}  ----  -----`);
for (const r of rows) console.log(`${r.name.padEnd(w)}  ${mark(r.crun)}  ${mark(r.berth)}`);
const crunPass = rows.filter((r) => r.crun).length;
const berthPass = rows.filter((r) => r.berth).length;
const regressions = rows.filter((r) => r.crun && !r.berth);
console.log(`${'-'.repeat(w)}  ----  -----`);
console.log(
  `${'total passed'.padEnd(w)}  ${String(crunPass).padStart(4)}  ${String(berthPass).padStart(5)}   of ${rows.length} cases, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
const notes = rows.filter((r) => r.why);
if (notes.length) {
  console.log('\nfailures:');
  for (const r of notes) console.log(`- ${r.name} [${r.source}]\n    ${r.why}`);
}
console.log(
  regressions.length
    ? `\nberth fails ${regressions.length} case(s) crun passes: ${regressions.map((r) => r.name).join('; ')}`
    : '\nberth passes every case crun passes',
);
process.exitCode = regressions.length ? 1 : 0;
