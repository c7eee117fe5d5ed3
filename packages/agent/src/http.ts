import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyTRPCRouter, inferRouterContext } from '@trpc/server';
import { incomingMessageToRequest } from '@trpc/server/adapters/node-http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { type HTTPErrorHandler, resolveResponse } from '@trpc/server/http';

// berthd's tRPC over HTTP. Subscriptions (server-sent events, which stream) go through tRPC's
// own Node handler. Queries and mutations are answered whole: the request body read as one
// string (tRPC takes a string req.body as it is) and the reply written with one end() and its
// Content-Length, instead of tRPC's WHATWG streams on both sides and a chunked reply whose
// terminating chunk is a write of its own. Both go through tRPC's resolveResponse (its
// documented way to write an adapter), so routing, errors and their codes are tRPC's.

export interface TrpcHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Where the procedures' paths start, e.g. "/trpc/". */
  basePath: string;
  createContext: () => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  onError?: HTTPErrorHandler<TRouter, IncomingMessage>;
}

export function trpcHandler<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const streaming = createHTTPHandler(opts as Parameters<typeof createHTTPHandler<TRouter>>[0]);
  const base = `/${opts.basePath.replace(/^\/+|\/+$/g, '')}/`;
  return (req, res) => {
    const url = req.url ?? '/';
    if (req.headers.accept?.includes('text/event-stream') || !url.startsWith(base)) {
      streaming(req, res);
      return;
    }
    answer(opts, base, req, res).catch((err: unknown) => {
      // Only the transport can fail here (resolveResponse turns a procedure's errors into
      // replies): a client that went away, mostly.
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ error: { message: 'internal server error' } }));
      } else res.destroy(err as Error);
    });
  };
}

async function answer<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  base: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = url(req).pathname.slice(base.length).replace(/\/+$/, '');
  if (req.method !== 'GET' && req.method !== 'HEAD')
    (req as IncomingMessage & { body?: string }).body = await bodyOf(req);
  const request = incomingMessageToRequest(req, res, { maxBodySize: null });
  const response = await resolveResponse<TRouter>({
    router: opts.router,
    req: request,
    path,
    error: null,
    createContext: async () => opts.createContext(),
    onError: (o) => opts.onError?.({ ...o, req }),
  });
  const body = Buffer.from(await response.arrayBuffer());
  res.statusCode = response.status;
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.end(body);
}

function url(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://berthd');
}

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}
