import { expect, test } from 'vitest';
import { parseReport } from './helper.ts';

test("a monitor's ok line carries the start times of init and of itself; exec's carries the pid only", () => {
  expect(parseReport('ok 4242 123456 4241 123450')).toEqual({
    kind: 'ok',
    pid: 4242,
    pidStart: '123456',
    monitorPid: 4241,
    monitorStart: '123450',
  });
  // "-": the monitor could not read it (the caller asks /proc itself then).
  expect(parseReport('ok 4242 - 4241 -')).toEqual({ kind: 'ok', pid: 4242, monitorPid: 4241 });
  expect(parseReport('ok 17')).toEqual({ kind: 'ok', pid: 17 });
  expect(parseReport('exit 3 0')).toEqual({ kind: 'exit', code: 3, signal: 0 });
  expect(parseReport('err 2 no such file')).toEqual({ kind: 'err', errno: 2, message: 'no such file' });
});
