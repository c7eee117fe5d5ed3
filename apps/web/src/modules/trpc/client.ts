'use client';
import type { AppRouter } from '@berth/api';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';

export const trpc = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/api/trpc', transformer: superjson })],
});

/** The code and sentence the API puts on every error; a plain sentence for anything else. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof TRPCClientError) {
    const data = err.data as { berthCode?: string } | undefined;
    if (data?.berthCode) return { code: data.berthCode, message: err.message };
  }
  return { code: 'NETWORK', message: 'the panel server did not answer; retrying' };
}
