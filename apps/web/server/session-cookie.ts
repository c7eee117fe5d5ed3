import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCookie, stringifySetCookie } from 'cookie';
import { SESSION_COOKIE } from '../src/modules/auth/session-cookie-name.ts';

export function sessionToken(req: IncomingMessage): string | undefined {
  return parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE] || undefined;
}

// httpOnly: scripts never see the token. SameSite=Strict: no other site's page can make the
// browser send it (with tRPC's JSON POSTs, that is the CSRF defence).
function write(res: ServerResponse, value: string, expires: Date, secure: boolean): void {
  res.appendHeader(
    'Set-Cookie',
    stringifySetCookie({
      name: SESSION_COOKIE,
      value,
      httpOnly: true,
      sameSite: 'strict',
      secure,
      path: '/',
      expires,
    }),
  );
}

export function setSessionCookie(res: ServerResponse, token: string, expiresAt: Date, secure: boolean): void {
  write(res, token, expiresAt, secure);
}

export function clearSessionCookie(res: ServerResponse, secure: boolean): void {
  write(res, '', new Date(0), secure);
}
