import type { Viewer } from './services/auth.ts';
import type { PanelServices } from './services/index.ts';

/** One request's view of the world, built by the web server's HTTP adapter. */
export interface ApiContext {
  services: PanelServices;
  viewer: Viewer | null;
  /** The raw session token from the cookie (to end that session at logout). */
  sessionToken: string | undefined;
  /** The client's address, for throttling and the audit log. */
  ip: string;
  /** Sets or clears the session cookie on the response. */
  setSession(token: string, expiresAt: Date): void;
  clearSession(): void;
}

export async function createApiContext(input: Omit<ApiContext, 'viewer'>): Promise<ApiContext> {
  return { ...input, viewer: await input.services.auth.viewer(input.sessionToken) };
}
