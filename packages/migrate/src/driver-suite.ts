// The behaviour every MigrationDriver must have, run against each real database by
// sqlite.test.ts and postgres.test.ts. Not a test file itself: vitest imports it from them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MigrationDriver } from './driver.ts';
import { MigrationError, migrate } from './migrate.ts';
import { checksumOf } from './read.ts';

export interface DriverHarness {
  driver: MigrationDriver;
  /** Names of the user tables that exist (not `_berth_migrations`). */
  tables(): Promise<string[]>;
  /** Rows of `_berth_migrations`, read with plain SQL. */
  records(): Promise<Array<{ name: string; checksum: string; appliedAt: Date }>>;
  close(): Promise<void>;
}

export function describeDriver(label: string, open: () => Promise<DriverHarness>): void {
  describe(`migrate on ${label}`, () => {
    let dir: string;
    let db: DriverHarness;
    // Set only once open() succeeded, so that afterEach still removes `dir` when it failed.
    let opened: DriverHarness | undefined;
    const write = (name: string, sql: string) => {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'migration.sql'), sql);
    };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'berth-test-migrate-'));
      writeFileSync(join(dir, 'migration_lock.toml'), 'provider = "x"\n');
      opened = db = await open();
    });
    afterEach(async () => {
      try {
        await opened?.close();
      } finally {
        opened = undefined;
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('applies pending migrations in name order, each recorded with its checksum', async () => {
      // Written out of order on purpose: the second depends on the first.
      write(
        '20260102000000_post',
        'CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "userId" INTEGER REFERENCES "User"("id"));',
      );
      write(
        '20260101000000_user',
        'CREATE TABLE "User" ("id" INTEGER PRIMARY KEY);\nCREATE INDEX "User_id" ON "User"("id");',
      );
      const before = Date.now();
      const result = await migrate({ driver: db.driver, dir });
      expect(result).toEqual({ applied: ['20260101000000_user', '20260102000000_post'], alreadyApplied: [] });
      expect(await db.tables()).toEqual(['Post', 'User']);
      const records = await db.records();
      expect(records.map((r) => [r.name, r.checksum])).toEqual([
        [
          '20260101000000_user',
          checksumOf(
            'CREATE TABLE "User" ("id" INTEGER PRIMARY KEY);\nCREATE INDEX "User_id" ON "User"("id");',
          ),
        ],
        [
          '20260102000000_post',
          checksumOf(
            'CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "userId" INTEGER REFERENCES "User"("id"));',
          ),
        ],
      ]);
      for (const r of records) expect(r.appliedAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    });

    it('applies nothing the second time, and only the new migration after one is added', async () => {
      write('0001_a', 'CREATE TABLE "A" ("id" INTEGER);');
      await migrate({ driver: db.driver, dir });
      expect(await migrate({ driver: db.driver, dir })).toEqual({ applied: [], alreadyApplied: ['0001_a'] });
      write('0002_b', 'CREATE TABLE "B" ("id" INTEGER);');
      expect(await migrate({ driver: db.driver, dir })).toEqual({
        applied: ['0002_b'],
        alreadyApplied: ['0001_a'],
      });
      expect(await db.tables()).toEqual(['A', 'B']);
    });

    it('refuses to run when an applied migration was edited, and applies nothing', async () => {
      write('0001_a', 'CREATE TABLE "A" ("id" INTEGER);');
      await migrate({ driver: db.driver, dir });
      write('0001_a', 'CREATE TABLE "A" ("id" INTEGER, "x" TEXT);');
      write('0002_b', 'CREATE TABLE "B" ("id" INTEGER);');
      const run = migrate({ driver: db.driver, dir });
      await expect(run).rejects.toThrow(MigrationError);
      await expect(migrate({ driver: db.driver, dir })).rejects.toThrow(
        /^migration 0001_a was changed after it was applied/,
      );
      expect(await db.tables()).toEqual(['A']);
      expect((await db.records()).map((r) => r.name)).toEqual(['0001_a']);
    });

    it('refuses to run when an applied migration is missing from the folder', async () => {
      write('0001_a', 'CREATE TABLE "A" ("id" INTEGER);');
      await migrate({ driver: db.driver, dir });
      rmSync(join(dir, '0001_a'), { recursive: true });
      write('0002_b', 'CREATE TABLE "B" ("id" INTEGER);');
      await expect(migrate({ driver: db.driver, dir })).rejects.toThrow(
        'migration 0001_a is applied to the database but missing from the migrations folder',
      );
      expect(await db.tables()).toEqual(['A']);
    });

    it('rolls a failing migration back whole and keeps the ones before it', async () => {
      write('0001_a', 'CREATE TABLE "A" ("id" INTEGER);');
      // The first statement succeeds, the second fails: the transaction must undo the first.
      write('0002_bad', 'CREATE TABLE "B" ("id" INTEGER);\nINSERT INTO "Nope" VALUES (1);');
      write('0003_c', 'CREATE TABLE "C" ("id" INTEGER);');
      const applied: string[] = [];
      await expect(migrate({ driver: db.driver, dir, onApplied: (n) => applied.push(n) })).rejects.toThrow(
        /^migration 0002_bad failed and was rolled back: .*Nope/,
      );
      expect(applied).toEqual(['0001_a']);
      expect(await db.tables()).toEqual(['A']);
      expect((await db.records()).map((r) => r.name)).toEqual(['0001_a']);
    });
  });
}
