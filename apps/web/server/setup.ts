// `node dist/setup.js`, run by scripts/start.sh as the panel's user before the panel starts:
// migrates the panel DB and creates the first admin (`admin`) while no user exists, with
// BERTH_ADMIN_PASSWORD or a generated password printed here, once.
import { randomBytes } from 'node:crypto';
import { AuthService } from '@berth/api';
import { openPanelDb, panelDbLocation } from '@berth/db';
import { readPanelEnv } from '../src/env.ts';
import { refuseRoot } from './not-root.ts';

async function main(): Promise<void> {
  refuseRoot('the panel setup');
  const env = readPanelEnv();
  const db = await openPanelDb(panelDbLocation(env.databaseUrl, env.dataDir), env.migrationsRoot);
  try {
    const password = env.adminPassword ?? randomBytes(18).toString('base64url');
    const created = await new AuthService({ db }).ensureFirstAdmin({ username: 'admin', password });
    if (!created) console.log('panel database ready; the admin account exists already');
    else if (env.adminPassword)
      console.log('created the admin account "admin" (password from BERTH_ADMIN_PASSWORD)');
    else console.log(`created the admin account "admin" with password: ${password}\n(shown only this once)`);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(`berth panel setup: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
