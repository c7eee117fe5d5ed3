import { describe, expect, it } from 'vitest';
import { DETACH_KEY, formatSessions, parseDetachKey } from './terminal.ts';

describe('--detach-key', () => {
  it('takes ctrl-<letter or @[\\]^_> and none', () => {
    expect(parseDetachKey('ctrl-]')).toBe(DETACH_KEY);
    expect(parseDetachKey('ctrl-p')).toBe(0x10);
    expect(parseDetachKey('CTRL-Q')).toBe(0x11);
    expect(parseDetachKey('ctrl-@')).toBe(0);
    expect(parseDetachKey('none')).toBeUndefined();
  });

  it.each(['ctrl-1', 'ctrl-', 'alt-x', ']', 'ctrl-ab'])('refuses %s naming the option', (v) => {
    expect(() => parseDetachKey(v)).toThrow(`invalid --detach-key: "${v}"`);
  });
});

describe('berth shell --list', () => {
  it('shows one row per session', () => {
    const now = new Date().toISOString();
    const out = formatSessions([
      {
        id: '3f9a2c1b',
        container: 'lab',
        command: ['/bin/sh', '-l'],
        user: null,
        actor: 'cli:ann',
        pid: 4242,
        createdAt: now,
        attached: 2,
        lastActivityAt: now,
        detachedAt: null,
      },
    ]).split('\n');
    expect(out[0]).toMatch(/^ID +COMMAND +USER +PID +CREATED +ATTACHED +LAST ACTIVITY +BY$/);
    expect(out[1]).toMatch(/^3f9a2c1b +\/bin\/sh -l +- +4242 +.+ +2 +.+ +cli:ann$/);
  });
});
