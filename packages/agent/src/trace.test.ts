import { expect, test } from 'vitest';
import { parseTraces } from './trace.ts';

test('reads the trace lines among the rest of stderr, phases in ms by name', () => {
  const text = [
    'berthd: listening on /x',
    'berthd trace create lab total=12.500 checks=1.250 runtime=9.000',
    'berthd trace exit 0a1b2c total=3.000 wait=2.000',
    '',
  ].join('\n');
  expect(parseTraces(text)).toEqual([
    { op: 'create', subject: 'lab', ms: { total: 12.5, checks: 1.25, runtime: 9 } },
    { op: 'exit', subject: '0a1b2c', ms: { total: 3, wait: 2 } },
  ]);
});
