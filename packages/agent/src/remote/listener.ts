import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** Lets a request through to `handle` only with a valid bearer token. */
export function requireToken(tokens: TokenStore, handle: RequestHandler): RequestHandler {
  return (req, res) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m)
      return deny(
        res,
        'a bearer token is required (Authorization: Bearer <token>; berthd token create --name NAME)',
      );
    tokens.verify(m[1]!).then(
      (info) => (info ? handle(req, res) : deny(res, 'the bearer token is not valid (unknown or revoked)')),
      (err: Error) => {
        console.error(`berthd: token check: ${err.stack ?? err.message}`);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'INTERNAL', message: 'internal error; the details are in the log' }));
      },
    );
  };
}

/** The same check for a websocket upgrade: refused with 401 before any websocket exists. */
export function requireTokenUpgrade(tokens: TokenStore, upgrade: UpgradeHandler): UpgradeHandler {
  return (req, socket, head) => {
    const refuse = (status: string, message: string) => {
      const body = JSON.stringify({
        code: status.startsWith('401') ? 'UNAUTHENTICATED' : 'INTERNAL',
        message,
      });
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer realm="berthd"\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m)
      return refuse(
        '401 Unauthorized',
        'a bearer token is required (Authorization: Bearer <token>; berthd token create --name NAME)',
      );
    tokens.verify(m[1]!).then(
      (info) =>
        info
          ? upgrade(req, socket, head)
          : refuse('401 Unauthorized', 'the bearer token is not valid (unknown or revoked)'),
      (err: Error) => {
        console.error(`berthd: token check: ${err.stack ?? err.message}`);
        refuse('500 Internal Server Error', 'internal error; the details are in the log');
      },
    );
  };
}

function deny(res: ServerResponse, message: string) {
  res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="berthd"' });
  res.end(JSON.stringify({ code: 'UNAUTHENTICATED', message }));
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
