import type { Server } from 'node:https';
import type { AgentDb } from '../db/index.ts';
import {
  parseListen,
  type RequestHandler,
  requireToken,
  requireTokenUpgrade,
  startTlsListener,
  type UpgradeHandler,
} from './listener.ts';
import { loadTls } from './tls.ts';
import { TokenStore } from './tokens.ts';

export { hashToken, TokenStore } from './tokens.ts';

export interface RemoteListener {
  readonly host: string;
  readonly port: number;
  /** SHA-256 fingerprint of the certificate, for clients to pin. */
  readonly fingerprint: string;
  readonly certFile: string;
  /** What berthd prints about it at start. */
  readonly notice: string;
  close(): Promise<void>;
}

/** Starts the TLS listener in front of `handle`, every request checked for a valid token. */
export async function startRemoteListener(opts: {
  listen: string;
  stateDir: string;
  tlsCert?: string;
  tlsKey?: string;
  db: AgentDb;
  handle: RequestHandler;
  /** Websocket upgrades (terminals), after the same token check. */
  upgrade?: UpgradeHandler;
}): Promise<RemoteListener> {
  const address = parseListen(opts.listen);
  const tls = await loadTls({
    stateDir: opts.stateDir,
    ...(opts.tlsCert ? { certFile: opts.tlsCert } : {}),
    ...(opts.tlsKey ? { keyFile: opts.tlsKey } : {}),
  });
  const tokens = new TokenStore(opts.db);
  const { server, port } = await startTlsListener(address, tls, requireToken(tokens, opts.handle));
  if (opts.upgrade) server.on('upgrade', requireTokenUpgrade(tokens, opts.upgrade));
  const origin =
    tls.source === 'generated'
      ? `self-signed, generated now: ${tls.certFile}`
      : tls.source === 'state'
        ? `self-signed: ${tls.certFile}`
        : tls.certFile;
  return {
    host: address.host,
    port,
    fingerprint: tls.fingerprint,
    certFile: tls.certFile,
    notice: `TLS on ${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}, certificate SHA-256 fingerprint ${tls.fingerprint} (${origin}); requests need a bearer token (berthd token create --name NAME)`,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
