import { type NextRequest, NextResponse } from 'next/server';
import { SESSION_COOKIE } from '@/modules/auth/session-cookie-name';

// Without a session cookie the dashboard cannot show anything: go to sign-in straight away.
// (Whether the session is valid is the API's call; an expired one redirects client-side.)
export function proxy(request: NextRequest) {
  if (!request.cookies.has(SESSION_COOKIE)) return NextResponse.redirect(new URL('/login', request.url));
  return NextResponse.next();
}

export const config = { matcher: ['/', '/containers/:path*'] };
