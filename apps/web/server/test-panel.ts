// The custom server's tests: a real panel server on a loopback port, over a fresh SQLite panel
// DB with two users (ada, an admin; bob, a member), berthd unreachable unless the test says
// where it is. close() undoes it all.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createPanelServices, type PanelServices } from '@berth/api';
import { agentHostFacts } from '@berth/api/agent';
import { openPanelDb } from '@berth/db';
import { panelMigrationsRoot, testSqlite } from '@berth/db/testing';
import { createPanelServer, type PanelServerOptions } from './panel.ts';
import type { UpgradeRouter } from './upgrade.ts';

export const PASSWORDS = { ada: 'correct horse', bob: 'battery staple' } as const;

export interface TestPanel {
  services: PanelServices;
  upgrades: UpgradeRouter;
  /** http://127.0.0.1:<port> */
  base: string;
  /** The session cookie of a signed-in user. */
  cookieOf(username: keyof typeof PASSWORDS): Promise<string>;
  close(): Promise<void>;
}

/** Pages answer `page <url>`; `options` replaces any of the server's options. */
export async function startTestPanel(
  options: Partial<Omit<PanelServerOptions, 'services'>> = {},
): Promise<TestPanel> {
  const database = testSqlite();
  const db = await openPanelDb(database.location, panelMigrationsRoot);
  const dropDb = async () => {
    await db.close();
    await database.drop();
  };
  const services = createPanelServices({ db, hostFacts: agentHostFacts('/nonexistent/berthd.sock') });
  try {
    await services.auth.createUser({ username: 'ada', password: PASSWORDS.ada, role: 'admin' });
    await services.auth.createUser({ username: 'bob', password: PASSWORDS.bob, role: 'member' });
  } catch (e) {
    await dropDb();
    throw e;
  }
  const { server, upgrades } = createPanelServer({
    services,
    secureCookies: false,
    agent: { socketPath: '/nonexistent/berthd.sock' },
    pages: (req, res) => {
      res.end(`page ${req.url}`);
    },
    ...options,
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    services,
    upgrades,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cookieOf: async (username) =>
      `berth_session=${(await services.auth.login({ username, password: PASSWORDS[username], ip: '127.0.0.1' })).token}`,
    close: async () => {
      upgrades.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dropDb();
    },
  };
}
