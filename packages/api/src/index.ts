export { type ApiContext, createApiContext } from './context.ts';
export { PanelError, type PanelErrorCode } from './errors.ts';
export { type AppRouter, appRouter } from './router.ts';
export { AuthService, DEFAULT_SESSION_TTL_MS, type Viewer } from './services/auth.ts';
export { type HostFactsSource, HostService } from './services/host.ts';
export { createPanelServices, type PanelServices, type PanelServicesOptions } from './services/index.ts';
export { LoginThrottle } from './services/login-throttle.ts';
export { createCallerFactory } from './trpc.ts';
