import type { PanelDb } from '@berth/db';
import { AuthService, type AuthServiceOptions } from './auth.ts';
import { type HostFactsSource, HostService } from './host.ts';

export interface PanelServices {
  auth: AuthService;
  host: HostService;
}

export interface PanelServicesOptions {
  db: PanelDb;
  /** berthd in the panel: `agentHostFacts(socketPath)` from '@berth/api/agent'. */
  hostFacts: HostFactsSource;
  auth?: Omit<AuthServiceOptions, 'db'>;
}

/** Wires the services once per process; tRPC contexts only carry them. */
export function createPanelServices(options: PanelServicesOptions): PanelServices {
  const auth = new AuthService({ db: options.db, ...options.auth });
  return { auth, host: new HostService(auth, options.hostFacts) };
}
