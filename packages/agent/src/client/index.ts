import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import { Agent, fetch as undiciFetch } from 'undici';
import type { AgentRouter } from '../router.ts';
import { AgentUnreachableError, isUnreachableError } from './errors.ts';

export type { AgentRouter } from '../router.ts';
export { AgentUnreachableError, isUnreachableError } from './errors.ts';

/** Where berthd listens unless told otherwise. */
export const DEFAULT_AGENT_SOCKET = '/run/berth/berthd.sock';

export interface AgentClientOptions {
  socketPath: string;
}

export type AgentClient = TRPCClient<AgentRouter>;

// The host part of the URL is only the Host header: every request goes to the Unix socket.
const BASE_URL = 'http://berthd/trpc';

/**
 * A typed tRPC client of berthd over its Unix socket: `client.host.facts.query()`.
 * Queries and mutations go over HTTP (batched); subscriptions over server-sent events on the
 * same socket. When the socket is missing, refuses, or the caller may not open it, queries
 * and mutations reject with AgentUnreachableError ("agent unreachable at <socket path>").
 * A subscription instead keeps reconnecting (berthd may be restarting): it reports
 * `onConnectionStateChange({ state: 'connecting', error })` meanwhile, and resumes from the
 * last tracked() id once the agent is back.
 *
 * Pure JavaScript (undici, eventsource): safe to import from the panel.
 */
export function createAgentClient({ socketPath }: AgentClientOptions): AgentClient {
  const dispatcher = new Agent({ connect: { socketPath } });
  const socketFetch = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    try {
      // undici's fetch is the WHATWG one; only its option type for the body differs from lib.dom's.
      return (await undiciFetch(url, { ...(init as object), dispatcher })) as unknown as Response;
    } catch (err) {
      if (isUnreachableError(err)) throw new AgentUnreachableError(socketPath, { cause: err });
      throw err;
    }
  };
  return createTRPCClient<AgentRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: BASE_URL,
          EventSource,
          eventSourceOptions: { fetch: socketFetch },
        }),
        false: httpBatchLink({ url: BASE_URL, fetch: socketFetch }),
      }),
    ],
  });
}
export { AgentRequestError, exportImageArchive, importImageArchive } from './archives.ts';
