import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import { Agent, request, Headers as UndiciHeaders } from 'undici';
import type { AgentRouter } from '../router.ts';
import { AgentUnreachableError, isUnreachableError } from './errors.ts';

export type { AgentRouter } from '../router.ts';
export { AgentUnreachableError, findUnreachable, isUnreachableError } from './errors.ts';

/** Where berthd listens unless told otherwise. */
export const DEFAULT_AGENT_SOCKET = '/run/berth/berthd.sock';

/** berthd on its Unix socket, or a remote berthd on its TLS listener with a bearer token. */
export type AgentClientOptions =
  | { socketPath: string }
  | {
      /** https://host:port of berthd's TCP listener. */
      url: string;
      token: string;
      /** The listener's certificate (PEM) when it is self-signed: trusted for this client only. */
      ca?: string;
    };

export type AgentClient = TRPCClient<AgentRouter>;

// On the socket, the host part of the URL is only the Host header.
const SOCKET_BASE_URL = 'http://berthd/trpc';

/**
 * A typed tRPC client of berthd over its Unix socket: `client.host.facts.query()`.
 * Queries (batched) and mutations (one request each) go over HTTP; subscriptions over server-sent events on the
 * same socket. When the socket is missing, refuses, or the caller may not open it, queries
 * and mutations reject with AgentUnreachableError ("agent unreachable at <socket path>").
 * A subscription instead keeps reconnecting (berthd may be restarting): it reports
 * `onConnectionStateChange({ state: 'connecting', error })` meanwhile, and resumes from the
 * last tracked() id once the agent is back.
 *
 * Pure JavaScript (undici, eventsource): safe to import from the panel.
 */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  const remote = 'url' in options ? options : undefined;
  const where = remote ? remote.url : (options as { socketPath: string }).socketPath;
  const BASE_URL = remote ? `${remote.url.replace(/\/+$/, '')}/trpc` : SOCKET_BASE_URL;
  const dispatcher = new Agent({
    connect: remote ? (remote.ca ? { ca: remote.ca } : {}) : { socketPath: where },
  });
  // Through undici's request() rather than its fetch: tRPC reads only the status and json()
  // of a reply, and EventSource only the status, content type and a reader of the body;
  // fetch's WHATWG Request, Response and streams cost about as much as berthd's own handling
  // of a call (measured), and its abort (an unsubscribe) a millisecond more.
  const send = async (url: string | URL, init?: RequestInit) => {
    const headers = { ...(init?.headers as Record<string, string> | undefined) };
    if (remote) headers.authorization = `Bearer ${remote.token}`;
    try {
      const res = await request(url, {
        dispatcher,
        method: (init?.method ?? 'GET') as 'GET' | 'POST',
        headers,
        body: (init?.body as string | undefined) ?? null,
        signal: init?.signal ?? null,
      });
      const replyHeaders = new UndiciHeaders();
      for (const [k, v] of Object.entries(res.headers))
        for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) replyHeaders.append(k, one);
      return { res, headers: replyHeaders };
    } catch (err) {
      if (isUnreachableError(err)) throw new AgentUnreachableError(where, { cause: err });
      throw err;
    }
  };
  const socketRequest = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const { res, headers } = await send(url, init);
    return {
      ok: res.statusCode >= 200 && res.statusCode < 300,
      status: res.statusCode,
      headers,
      json: () => res.body.json(),
      text: () => res.body.text(),
    } as unknown as Response;
  };
  const socketStream = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const { res, headers } = await send(url, init);
    // EventSource reads only a 200 event stream: any other body is let go here, or it would
    // hold its connection.
    if (res.statusCode !== 200 || !headers.get('content-type')?.startsWith('text/event-stream'))
      await res.body.dump();
    // The body's chunks as a web stream's reader yields them (all EventSource asks of it).
    const chunks = res.body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    return {
      status: res.statusCode,
      redirected: false,
      url: String(url),
      headers,
      body: { getReader: () => ({ read: () => chunks.next() }) },
    } as unknown as Response;
  };
  return createTRPCClient<AgentRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: BASE_URL,
          EventSource,
          eventSourceOptions: { fetch: socketStream },
        }),
        // Mutations one request each, sent at once; queries batched (a panel page asks for
        // several at a time), which waits for the next timer tick (at least 1 ms) to gather them.
        false: splitLink({
          condition: (op) => op.type === 'mutation',
          true: httpLink({ url: BASE_URL, fetch: socketRequest }),
          false: httpBatchLink({ url: BASE_URL, fetch: socketRequest }),
        }),
      }),
    ],
  });
}
export { AgentRequestError, exportImageArchive, importImageArchive } from './archives.ts';
export {
  openTerminal,
  type TerminalConnection,
  type TerminalEnd,
  type TerminalHandlers,
  terminalAddress,
} from './terminal.ts';
