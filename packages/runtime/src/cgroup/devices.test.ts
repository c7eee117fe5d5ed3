import { describe, expect, it } from 'vitest';
import { foldDeviceRules, formatDeviceRule, parseDevicesList } from './devices.ts';

describe('foldDeviceRules (kernel v1 semantics)', () => {
  it('the usual container list: deny all, then allow a few', () => {
    const s = foldDeviceRules([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 5, access: 'wr' },
      { allow: true, type: 'c', major: 136, access: 'rwm' },
    ]);
    expect(s.defaultAllow).toBe(false);
    expect(s.exceptions.map(formatDeviceRule)).toEqual(['c 1:3 rwm', 'c 1:5 rw', 'c 136:* rwm']);
  });

  it('a later rule overrides: deny takes access bits back, allow merges', () => {
    const s = foldDeviceRules([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'r' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'w' },
      { allow: false, type: 'c', major: 1, minor: 3, access: 'r' },
      { allow: true, type: 'b', major: 8, minor: 0, access: 'r' },
      { allow: false, type: 'b', major: 8, minor: 0, access: 'rwm' },
    ]);
    expect(s.exceptions.map(formatDeviceRule)).toEqual(['c 1:3 w']);
  });

  it('starts from allow-all, and "a" resets whatever came before', () => {
    expect(foldDeviceRules([])).toEqual({ defaultAllow: true, exceptions: [] });
    const s = foldDeviceRules([
      { allow: false, type: 'c', major: 10, minor: 200, access: 'rwm' },
      { allow: true, type: 'a' },
      { allow: false, type: 'b', major: 8, access: 'w' },
    ]);
    expect(s).toEqual({ defaultAllow: true, exceptions: [{ type: 'b', major: 8, minor: '*', access: 'w' }] });
  });

  it('treats -1 and absent numbers as wildcards, and validates', () => {
    const s = foldDeviceRules([
      { allow: false },
      { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
    ]);
    expect(s.exceptions.map(formatDeviceRule)).toEqual(['c *:* m']);
    expect(() => foldDeviceRules([{ allow: 'yes' }])).toThrow(/devices\[0\].allow: must be true or false/);
    expect(() => foldDeviceRules([{ allow: true, type: 'c', major: 1.5 }])).toThrow(/devices\[0\].major/);
    expect(() => foldDeviceRules({})).toThrow(/devices: must be a list/);
  });

  it('reads devices.list back', () => {
    expect(parseDevicesList('a *:* rwm\n')).toEqual({ defaultAllow: true, exceptions: [] });
    expect(parseDevicesList('c 1:3 rwm\nb 8:* r\n')).toEqual({
      defaultAllow: false,
      exceptions: [
        { type: 'c', major: 1, minor: 3, access: 'rwm' },
        { type: 'b', major: 8, minor: '*', access: 'r' },
      ],
    });
    expect(parseDevicesList('')).toEqual({ defaultAllow: false, exceptions: [] });
  });
});
