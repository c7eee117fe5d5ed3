import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { checksumOf, readMigrations } from './read.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-read-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('reads Prisma-layout folders in name order and ignores other files', () => {
  for (const name of ['20260301000000_b', '20260201000000_a']) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'migration.sql'), `-- ${name}\n`);
  }
  writeFileSync(join(dir, 'migration_lock.toml'), 'provider = "sqlite"\n');
  expect(readMigrations(dir)).toEqual([
    { name: '20260201000000_a', sql: '-- 20260201000000_a\n', checksum: checksumOf('-- 20260201000000_a\n') },
    { name: '20260301000000_b', sql: '-- 20260301000000_b\n', checksum: checksumOf('-- 20260301000000_b\n') },
  ]);
});

it('names a migration folder that has no migration.sql', () => {
  mkdirSync(join(dir, '0001_empty'));
  expect(() => readMigrations(dir)).toThrow(/^migration 0001_empty has no migration.sql/);
});

it('names a migrations folder that does not exist', () => {
  expect(() => readMigrations(join(dir, 'nope'))).toThrow(
    `migrations folder ${join(dir, 'nope')} does not exist`,
  );
});
