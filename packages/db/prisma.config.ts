// Config for the Prisma CLI (generate, migrate diff), one provider at a time:
// PANEL_PROVIDER=sqlite|postgresql (see scripts/panel-schema.mjs). `engine: 'js'` keeps the
// CLI on the WebAssembly schema engine: nothing is downloaded. Only the CLI reads this file.
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

const provider = process.env.PANEL_PROVIDER === 'postgresql' ? 'postgresql' : 'sqlite';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: `../../prisma/panel/${provider}/schema.prisma`,
  async adapter() {
    return provider === 'postgresql'
      ? new PrismaPg({ connectionString: process.env.DATABASE_URL ?? 'postgresql://unused@127.0.0.1/unused' })
      : new PrismaBetterSQLite3({ url: ':memory:' });
  },
});
