import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { defineConfig } from 'prisma/config';

// Prisma 6.19 fully offline: the JS engine (schema engine as WebAssembly, driven through the
// driver adapter) for generate and migrate diff; no binary is downloaded. See
// shared/ENVIRONMENT.md. The CLI is only used at development time; berthd applies the
// committed migrations itself.
export default defineConfig({
  engine: 'js',
  experimental: { adapter: true },
  schema: '../../prisma/agent/schema.prisma',
  adapter: async () =>
    new PrismaBetterSQLite3({ url: process.env.BERTH_AGENT_DATABASE_URL ?? 'file::memory:' }),
});
