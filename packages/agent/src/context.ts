import type { HostFacts } from '@berth/contracts';

// What procedures may use, injected by the server (and by tests). Types only: the client's
// AgentRouter type reaches this file, so it must not pull in the database or the runtime.

export interface HostService {
  facts(): Promise<HostFacts>;
}

export interface AgentContext {
  host: HostService;
}
