import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AgentClientOptions, createAgentClient } from '@berth/agent/client';
import { appRouter, createApiContext, type PanelServices } from '@berth/api';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { clearSessionCookie, sessionToken, setSessionCookie } from './session-cookie.ts';
import { TERMINAL_WS_PATH, terminalRoute } from './terminal-relay.ts';
import {
  agentShellSessions,
  type ShellSessionsSource,
  TERMINAL_SESSIONS_PATH,
  terminalSessionsHandler,
} from './terminal-sessions.ts';
import { UpgradeRouter } from './upgrade.ts';

export const TRPC_PATH = '/api/trpc';

export interface PanelServerOptions {
  services: PanelServices;
  /** Serves everything that is not the API: Next's request handler. */
  pages: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
  secureCookies: boolean;
  /** berthd, for the terminal relay (TERMINAL_WS_PATH). */
  agent: AgentClientOptions;
  /** The shell session API (default: berthd's, at `agent`). */
  shells?: ShellSessionsSource;
  /** The terminal relay's ping and sign-in recheck interval (default 30 s). */
  terminalRecheckMs?: number;
  /** Output the relay holds for a slow browser before letting go of it (default 4 MiB). */
  terminalMaxBufferedBytes?: number;
}

/** The panel's HTTP server: /api/trpc → tRPC, upgrades → UpgradeRouter, the rest → Next. */
export function createPanelServer(options: PanelServerOptions): { server: Server; upgrades: UpgradeRouter } {
  const { services, secureCookies } = options;
  const api = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    createContext: ({ req, res }) =>
      createApiContext({
        services,
        sessionToken: sessionToken(req),
        ip: req.socket.remoteAddress ?? 'unknown',
        setSession: (token, expiresAt) => setSessionCookie(res, token, expiresAt, secureCookies),
        clearSession: () => clearSessionCookie(res, secureCookies),
      }),
  });
  const upgrades = new UpgradeRouter();
  upgrades.route(
    TERMINAL_WS_PATH,
    terminalRoute({
      viewer: (token) => services.auth.viewer(token),
      agent: options.agent,
      ...(options.terminalRecheckMs !== undefined ? { recheckMs: options.terminalRecheckMs } : {}),
      ...(options.terminalMaxBufferedBytes !== undefined
        ? { maxBufferedBytes: options.terminalMaxBufferedBytes }
        : {}),
    }),
  );
  const sessions = terminalSessionsHandler({
    viewer: (token) => services.auth.viewer(token),
    shells: options.shells ?? agentShellSessions(createAgentClient(options.agent)),
  });
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === TERMINAL_SESSIONS_PATH || url.startsWith(`${TERMINAL_SESSIONS_PATH}?`)) {
      sessions(req, res).catch((err: unknown) => {
        console.error('terminal sessions:', err);
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end();
      });
      return;
    }
    if (url === TRPC_PATH || url.startsWith(`${TRPC_PATH}/`) || url.startsWith(`${TRPC_PATH}?`)) {
      res.setHeader('Cache-Control', 'no-store');
      api(req, res);
      return;
    }
    Promise.resolve(options.pages(req, res)).catch((err: unknown) => {
      console.error('page error:', err);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('Something went wrong; the details are in the panel log.');
    });
  });
  server.on('upgrade', upgrades.handle);
  return { server, upgrades };
}
