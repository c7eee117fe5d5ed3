// The only reader of process.env in the panel. Everything the panel can be told from outside
// is here, checked once at start-up; a bad value stops it with a sentence naming the variable.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// apps/web, from src/env.ts as from the bundled dist/server.js: both sit one level down.
const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const Schema = z.object({
  BERTH_PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  /** Address to listen on. */
  BERTH_HOST: z.string().min(1).default('0.0.0.0'),
  /** The panel's own state: the SQLite database unless DATABASE_URL names PostgreSQL. */
  BERTH_PANEL_DATA_DIR: z
    .string()
    .startsWith('/', 'must be an absolute path')
    .default('/var/lib/berth/panel'),
  BERTH_SOCKET: z.string().startsWith('/', 'must be an absolute path').default('/run/berth/berthd.sock'),
  DATABASE_URL: z.string().min(1).optional(),
  /** Mark the session cookie Secure (set when the panel is served over HTTPS). */
  BERTH_SECURE_COOKIES: z.enum(['0', '1']).default('0'),
  /** The first admin's password (setup only); generated when unset. */
  BERTH_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  NODE_ENV: z.string().optional(),
});

export interface PanelEnv {
  port: number;
  host: string;
  dataDir: string;
  agentSocket: string;
  databaseUrl: string | undefined;
  secureCookies: boolean;
  adminPassword: string | undefined;
  dev: boolean;
  /** apps/web: where Next finds .next/. */
  appDir: string;
  /** prisma/panel: the committed migrations, per provider. */
  migrationsRoot: string;
}

export function readPanelEnv(env: NodeJS.ProcessEnv = process.env): PanelEnv {
  const parsed = Schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid ${String(issue?.path[0] ?? 'environment')}: ${issue?.message ?? 'invalid'}`);
  }
  const e = parsed.data;
  return {
    port: e.BERTH_PORT,
    host: e.BERTH_HOST,
    dataDir: e.BERTH_PANEL_DATA_DIR,
    agentSocket: e.BERTH_SOCKET,
    databaseUrl: e.DATABASE_URL,
    secureCookies: e.BERTH_SECURE_COOKIES === '1',
    adminPassword: e.BERTH_ADMIN_PASSWORD,
    dev: e.NODE_ENV === 'development',
    appDir,
    migrationsRoot: resolve(appDir, '../../prisma/panel'),
  };
}
