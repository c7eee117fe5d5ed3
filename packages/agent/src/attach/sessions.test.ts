import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { duplicatePrefix, sessionMembers, tailOf } from './sessions.ts';

describe('console scrollback', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes the last bytes across the rotated and the current log', () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-tail-'));
    writeFileSync(join(dir, 'console.log.1'), 'old-part\n');
    writeFileSync(join(dir, 'console.log'), 'new\n');
    const files = [join(dir, 'console.log.1'), join(dir, 'console.log')];
    expect(tailOf(files, 7).toString()).toBe('rt\nnew\n');
    expect(tailOf(files, 100).toString()).toBe('old-part\nnew\n');
    expect(tailOf([join(dir, 'missing')], 10).length).toBe(0);
  });

  it('drops from the live side only what the scrollback already ends with, within the window', () => {
    const sb = Buffer.from('hello\nwor');
    expect(duplicatePrefix(sb, Buffer.from('world\n'), 3)).toBe(3);
    expect(duplicatePrefix(sb, Buffer.from('world\n'), 2)).toBe(0);
    expect(duplicatePrefix(sb, Buffer.from('next\n'), 3)).toBe(0);
    expect(duplicatePrefix(sb, Buffer.from('world\n'), 0)).toBe(0);
  });
});

describe('sessionMembers', () => {
  it('finds the processes of a session from /proc', () => {
    const sid = Number(
      readFileSync('/proc/self/stat', 'utf8')
        .replace(/^.*\) /, '')
        .split(' ')[3],
    );
    expect(sessionMembers(sid).map((m) => m.pid)).toContain(process.pid);
  });
});
