import { createHash, randomBytes } from 'node:crypto';
import type { PanelDb, UserDto, UserRole } from '@berth/db';
import { PanelError, panelError } from '../errors.ts';
import { LoginThrottle } from './login-throttle.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.ts';

/** Who is making a request: the signed-in user, or null. */
export interface Viewer {
  user: UserDto;
  sessionExpiresAt: Date;
}

export interface AuthServiceOptions {
  db: PanelDb;
  /** How long a session lasts from sign-in. */
  sessionTtlMs?: number;
  throttle?: LoginThrottle;
  now?: () => Date;
}

export const DEFAULT_SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

// The cookie carries 32 random bytes; the DB keeps only their SHA-256, so a leaked database
// holds no usable session.
export const hashSessionToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export class AuthService {
  private readonly db: PanelDb;
  private readonly ttlMs: number;
  private readonly throttle: LoginThrottle;
  private readonly now: () => Date;

  constructor(options: AuthServiceOptions) {
    this.db = options.db;
    this.ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.throttle = options.throttle ?? new LoginThrottle();
    this.now = options.now ?? (() => new Date());
  }

  /** Checks the password and opens a session; the token goes into the cookie, once. */
  async login(input: { username: string; password: string; ip: string }) {
    const { username, password, ip } = input;
    const wait = await this.throttle.retryAfter(ip, username);
    if (wait > 0) {
      await this.db.audit.record({ actorName: username, action: 'auth.login_throttled', ip });
      throw panelError('RATE_LIMITED', { what: 'failed sign-ins', retryAfterSeconds: wait });
    }
    const user = await this.db.users.credentials(username);
    if (!user) await burnPasswordCheck(password);
    const ok = user ? await verifyPassword(user.passwordHash, password) : false;
    if (!user || !ok) {
      await this.throttle.failed(ip, username);
      await this.db.audit.record({
        actorId: user?.id ?? null,
        actorName: username,
        action: 'auth.login_failed',
        ip,
      });
      throw new PanelError('UNAUTHENTICATED', 'wrong user name or password');
    }
    await this.throttle.succeeded(ip, username);
    await this.db.sessions.deleteExpired(this.now()); // sign-ins are rare: a cheap moment to tidy
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(this.now().getTime() + this.ttlMs);
    await this.db.sessions.create({ tokenHash: hashSessionToken(token), userId: user.id, expiresAt });
    await this.db.audit.record({ actorId: user.id, actorName: user.username, action: 'auth.login', ip });
    const { passwordHash: _, ...dto } = user;
    return { token, expiresAt, user: dto satisfies UserDto };
  }

  /** The viewer a session token stands for, or null when it is missing, unknown or expired. */
  async viewer(token: string | undefined): Promise<Viewer | null> {
    if (!token) return null;
    const found = await this.db.sessions.findActive(hashSessionToken(token), this.now());
    return found ? { user: found.user, sessionExpiresAt: found.session.expiresAt } : null;
  }

  async logout(input: { token: string | undefined; viewer: Viewer | null; ip: string }): Promise<void> {
    if (input.token) await this.db.sessions.delete(hashSessionToken(input.token));
    if (input.viewer) {
      const { user } = input.viewer;
      await this.db.audit.record({
        actorId: user.id,
        actorName: user.username,
        action: 'auth.logout',
        ip: input.ip,
      });
    }
  }

  /** The signed-in user, or UNAUTHENTICATED. Every service that needs a user starts here. */
  requireUser(viewer: Viewer | null): UserDto {
    if (!viewer) throw panelError('UNAUTHENTICATED');
    return viewer.user;
  }

  requireAdmin(viewer: Viewer | null): UserDto {
    const user = this.requireUser(viewer);
    if (user.role !== 'admin') throw panelError('FORBIDDEN', { action: 'do this (admins only)' });
    return user;
  }

  /**
   * The first start's admin: created only while no user exists. Returns whether it was
   * created, so the caller can show a generated password once.
   */
  async ensureFirstAdmin(input: { username: string; password: string }): Promise<boolean> {
    if ((await this.db.users.count()) > 0) return false;
    await this.createUser({ ...input, role: 'admin' });
    return true;
  }

  async createUser(input: { username: string; password: string; role: UserRole }): Promise<UserDto> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(input.username)) {
      throw panelError('INVALID_INPUT', {
        field: 'username',
        problem: 'use 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
      });
    }
    if (input.password.length < 8) {
      throw panelError('INVALID_INPUT', { field: 'password', problem: 'use at least 8 characters' });
    }
    const passwordHash = await hashPassword(input.password);
    return this.db.users.create({ username: input.username, passwordHash, role: input.role });
  }
}
