/** The session cookie's name: set by the custom server, looked for by src/proxy.ts. */
export const SESSION_COOKIE = 'berth_session';
