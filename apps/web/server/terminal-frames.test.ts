import { describe, expect, it } from 'vitest';
import { parseBrowserControl, parseBrowserOpen } from './terminal-frames.ts';

const open = (frame: object) => parseBrowserOpen(JSON.stringify(frame), 'panel:ada');

describe("the relay's frame validation", () => {
  it('turns a new shell into the agent frame, with the signed-in user as actor', () => {
    expect(open({ type: 'open', kind: 'shell', name: 'web', cols: 80, rows: 24 })).toEqual({
      ok: true,
      frame: {
        type: 'open',
        kind: 'shell',
        name: 'web',
        cols: 80,
        rows: 24,
        env: [],
        term: 'xterm-256color',
        actor: 'panel:ada',
      },
    });
  });

  it('passes an attach with its session id, replaying the scrollback, not read-only', () => {
    const r = open({ type: 'open', kind: 'attach', name: 'web', session: '3f9a2c1b', cols: 100, rows: 30 });
    expect(r).toEqual({
      ok: true,
      frame: {
        type: 'open',
        kind: 'attach',
        name: 'web',
        session: '3f9a2c1b',
        cols: 100,
        rows: 30,
        scrollbackBytes: 16 << 20,
        readOnly: false,
        actor: 'panel:ada',
      },
    });
  });

  it('refuses a bad session id, naming the field', () => {
    const r = open({ type: 'open', kind: 'attach', name: 'web', session: '../etc', cols: 80, rows: 24 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^session: must be a session id of 8 hex digits/);
  });

  it('refuses fields the browser may not set (actor, command, user) and kinds it may not open', () => {
    const base = { type: 'open', kind: 'shell', name: 'web', cols: 80, rows: 24 };
    for (const extra of [{ actor: 'root' }, { command: ['rm', '-rf', '/'] }, { user: '0' }]) {
      const r = open({ ...base, ...extra });
      expect(r.ok, JSON.stringify(extra)).toBe(false);
      if (!r.ok) expect(r.message).toContain(Object.keys(extra)[0]);
    }
    expect(open({ ...base, kind: 'console' }).ok).toBe(false);
    const r = open({ ...base, cols: 0 });
    expect(r).toEqual({ ok: false, message: 'cols: cols must be at least 1' });
  });

  it('refuses what is not JSON or not an open frame', () => {
    expect(parseBrowserOpen('{nope', 'panel:ada')).toEqual({ ok: false, message: 'frame: not JSON' });
    expect(open({ type: 'resize', cols: 80, rows: 24 }).ok).toBe(false);
    expect(open({ type: 'open', kind: 'attach', name: 'web', cols: 80, rows: 24 }).ok).toBe(false);
  });

  it('accepts resizes after open and nothing else', () => {
    expect(parseBrowserControl('{"type":"resize","cols":120,"rows":40}')).toEqual({
      ok: true,
      frame: { type: 'resize', cols: 120, rows: 40 },
    });
    expect(parseBrowserControl('{"type":"open","kind":"shell"}').ok).toBe(false);
    expect(parseBrowserControl('{"type":"resize","cols":120,"rows":40.5}')).toEqual({
      ok: false,
      message: 'rows: rows must be a whole number',
    });
  });
});
