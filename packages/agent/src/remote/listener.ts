import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TlsMaterial } from './tls.ts';
import type { TokenStore } from './tokens.ts';

// berthd's TCP listener for remote panels: TLS, and a bearer token on every request, then
// the same handler as the Unix socket (tRPC, image archives, /metrics).

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ListenAddress {
  host: string;
  port: number;
}

/** "host:port", "[v6]:port" or a bare port (all addresses); throws naming the flag. */
export function parseListen(value: string, flag = '--listen'): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?:?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535))
    throw new Error(
      `${flag} ${JSON.stringify(value)}: expected host:port, [v6]:port or a port (0-65535; 0: any free port)`,
    );
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}

/** The body of a refusal: the contracts' code for the status and a sentence. */
const refusal = (status: 401 | 500, message: string): string =>
  JSON.stringify({ code: status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL', message });

/**
 * Calls `pass` once the request carries a valid bearer token; otherwise `refuse` with 401 and
 * what is wrong, or 500 when the token store fails (the details go to the log).
 */
function checkBearer(
  tokens: TokenStore,
  req: IncomingMessage,
  pass: () => void,
  refuse: (status: 401 | 500, message: string) => void,
): void {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) {
    refuse(
      401,
      'a bearer token is required (Authorization: Bearer <token>; berthd token create --name NAME)',
    );
    return;
  }
  tokens.verify(m[1]!).then(
    (info) => (info ? pass() : refuse(401, 'the bearer token is not valid (unknown or revoked)')),
    (err: Error) => {
      console.error(`berthd: token check: ${err.stack ?? err.message}`);
      refuse(500, 'internal error; the details are in the log');
    },
  );
}

/** Lets a request through to `handle` only with a valid bearer token. */
export function requireToken(tokens: TokenStore, handle: RequestHandler): RequestHandler {
  return (req, res) =>
    checkBearer(
      tokens,
      req,
      () => handle(req, res),
      (status, message) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(status === 401 ? { 'www-authenticate': 'Bearer realm="berthd"' } : {}),
        });
        res.end(refusal(status, message));
      },
    );
}

/** The same check for a websocket upgrade: refused with 401 before any websocket exists. */
export function requireTokenUpgrade(tokens: TokenStore, upgrade: UpgradeHandler): UpgradeHandler {
  return (req, socket, head) =>
    checkBearer(
      tokens,
      req,
      () => upgrade(req, socket, head),
      (status, message) => {
        const body = refusal(status, message);
        socket.end(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer realm="berthd"\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      },
    );
}

export async function startTlsListener(
  address: ListenAddress,
  tls: TlsMaterial,
  handle: RequestHandler,
): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`)),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
