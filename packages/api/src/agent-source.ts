import { createAgentClient, findUnreachable } from '@berth/agent/client';
import { ErrorCode } from '@berth/contracts';
import { TRPCClientError } from '@trpc/client';
import { PanelError } from './errors.ts';
import type { HostFactsSource } from './services/host.ts';

/**
 * Host facts from berthd through its socket client. Kept out of the package's main entry
 * (import '@berth/api/agent'): only the panel's server wires it, so code that needs just the
 * router's types (the browser side) does not pull in the agent client.
 */
export function agentHostFacts(socketPath: string): HostFactsSource {
  const client = createAgentClient({ socketPath });
  return {
    async facts() {
      try {
        return await client.host.facts.query();
      } catch (err) {
        // The client's own sentence: "agent unreachable at <socket path>".
        const unreachable = findUnreachable(err);
        if (unreachable) throw new PanelError('AGENT_UNREACHABLE', unreachable.message);
        // berthd answered with an error of its own: pass its code and sentence on, saying
        // whose it is (its details are in berthd's log, not the panel's).
        if (err instanceof TRPCClientError) {
          const code = ErrorCode.safeParse((err.data as { berthCode?: unknown } | undefined)?.berthCode);
          throw new PanelError(code.success ? code.data : 'INTERNAL', `berthd: ${err.message}`);
        }
        throw err;
      }
    },
  };
}
