// The panel process: opens (and migrates) the panel DB, wires the services, serves Next's
// pages and the API on one port, and stops cleanly on SIGTERM/SIGINT.
import { createPanelServices } from '@berth/api';
import { agentHostFacts } from '@berth/api/agent';
import { openPanelDb, panelDbLocation } from '@berth/db';
import next from 'next';
import { readPanelEnv } from '../src/env.ts';
import { refuseRoot } from './not-root.ts';
import { createPanelServer } from './panel.ts';

async function main(): Promise<void> {
  refuseRoot('the panel');
  const env = readPanelEnv();
  const db = await openPanelDb(panelDbLocation(env.databaseUrl, env.dataDir), env.migrationsRoot);
  const services = createPanelServices({ db, hostFacts: agentHostFacts(env.agentSocket) });
  const app = next({ dev: env.dev, dir: env.appDir, hostname: env.host, port: env.port });
  await app.prepare();
  const { server, upgrades } = createPanelServer({
    services,
    pages: app.getRequestHandler(),
    secureCookies: env.secureCookies,
    agent: { socketPath: env.agentSocket },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.port, env.host, resolve);
  });
  console.log(
    `berth panel listening on http://${env.host}:${env.port} (agent socket ${env.agentSocket}, ${db.provider})`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`berth panel: ${signal}, stopping`);
    upgrades.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await app.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`berth panel: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
