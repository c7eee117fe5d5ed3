import type { HostFacts } from '@berth/contracts';
import type { AuthService, Viewer } from './auth.ts';

/**
 * Where the host's facts come from (berthd: see ../agent-source.ts). An implementation
 * reports an unreachable source as PanelError AGENT_UNREACHABLE with its own sentence.
 */
export interface HostFactsSource {
  facts(): Promise<HostFacts>;
}

export class HostService {
  constructor(
    private readonly auth: AuthService,
    private readonly source: HostFactsSource,
  ) {}

  /** Any signed-in user may read the host's facts. */
  async facts(viewer: Viewer | null): Promise<HostFacts> {
    this.auth.requireUser(viewer);
    return this.source.facts();
  }
}
