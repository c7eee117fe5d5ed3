import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/** A websocket endpoint: gets the request (cookies, path) and the accepted socket. */
export type WebSocketRoute = (ws: WebSocket, req: IncomingMessage) => void;

/**
 * The one place HTTP upgrades are handled (Next never sees them). Features register a path
 * (terminals will: `/ws/terminal/...`); anything else is refused with 404 before a websocket
 * exists. Authentication belongs to each route, before it spawns anything.
 */
export class UpgradeRouter {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  private readonly routes = new Map<string, WebSocketRoute>();

  route(pathname: string, handler: WebSocketRoute): void {
    this.routes.set(pathname, handler);
  }

  handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(req.url ?? '/', 'http://panel').pathname;
    const handler = this.routes.get(pathname);
    if (!handler) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => handler(ws, req));
  };

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
