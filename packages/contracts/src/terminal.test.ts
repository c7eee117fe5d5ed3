import { describe, expect, it } from 'vitest';
import {
  describeFrameError,
  ShellSessionKill,
  TerminalClientFrame,
  TerminalOpen,
  TerminalServerFrame,
} from './terminal.ts';

describe('terminal frames', () => {
  const shell = { type: 'open', kind: 'shell', name: 'lab', cols: 80, rows: 24, actor: 'cli:me' };

  it('takes an open frame with a size, filling defaults', () => {
    expect(TerminalOpen.parse(shell)).toMatchObject({ env: [], term: 'xterm-256color' });
    expect(TerminalOpen.parse({ ...shell, kind: 'console' })).toMatchObject({ scrollbackBytes: 65536 });
  });

  it.each([
    [{ ...shell, rows: 0 }, 'rows: rows must be at least 1'],
    [{ ...shell, cols: 1001 }, 'cols: cols must be at most 1000'],
    [{ ...shell, cols: 1.5 }, 'cols: cols must be a whole number'],
    [{ ...shell, name: '../etc' }, 'name:'],
    [{ ...shell, cwd: 'relative' }, 'cwd: must be an absolute path'],
    [{ ...shell, term: 'x; rm -rf /' }, 'term: must be a terminal type'],
    [{ ...shell, extra: 1 }, 'extra'],
    [{ ...shell, kind: 'console', command: ['sh'] }, 'command'],
    [{ ...shell, kind: 'attach' }, 'session:'],
    [{ ...shell, kind: 'attach', session: '3F9A2C1B' }, 'session: must be a session id of 8 hex digits'],
    [{ ...shell, kind: 'attach', session: '3f9a2c1b', command: ['sh'] }, 'command'],
    [{ ...shell, kind: 'attach', session: '3f9a2c1b', scrollbackBytes: -1 }, 'scrollbackBytes'],
  ])('refuses %j naming the field', (frame, message) => {
    const r = TerminalOpen.safeParse(frame);
    expect(r.success).toBe(false);
    if (!r.success) expect(describeFrameError(r.error)).toContain(message);
  });

  it('takes an attach frame to a session by id, replaying all it keeps unless told', () => {
    expect(TerminalOpen.parse({ ...shell, kind: 'attach', session: '3f9a2c1b' })).toMatchObject({
      session: '3f9a2c1b',
      scrollbackBytes: 16 << 20,
    });
    expect(TerminalServerFrame.parse({ type: 'ready', pid: 7, session: '3f9a2c1b' })).toMatchObject({
      session: '3f9a2c1b',
    });
    expect(ShellSessionKill.safeParse({ name: 'lab', session: '../x', actor: 'a' }).success).toBe(false);
  });

  it('takes resizes within bounds only', () => {
    expect(TerminalClientFrame.parse({ type: 'resize', cols: 120, rows: 40 })).toEqual({
      type: 'resize',
      cols: 120,
      rows: 40,
    });
    expect(TerminalClientFrame.safeParse({ type: 'resize', cols: 120, rows: 4000 }).success).toBe(false);
    expect(TerminalClientFrame.safeParse({ ...shell }).success).toBe(false);
  });

  it('knows the agent frames', () => {
    expect(TerminalServerFrame.parse({ type: 'exit', code: 3 })).toEqual({ type: 'exit', code: 3 });
    expect(TerminalServerFrame.safeParse({ type: 'error', code: 'NOPE', message: 'x' }).success).toBe(false);
  });
});
