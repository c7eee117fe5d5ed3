// What the panel DB's repositories hand out: plain objects, never Prisma rows, so callers
// do not depend on the ORM or on which database is underneath.

export type UserRole = 'admin' | 'member';

export interface UserDto {
  id: string;
  username: string;
  role: UserRole;
  createdAt: Date;
}

/** A user with the password hash: for the sign-in check only, never sent to a client. */
export interface UserCredentials extends UserDto {
  passwordHash: string;
}

export interface SessionDto {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface AuditEntryDto {
  id: number;
  at: Date;
  actorId: string | null;
  actorName: string;
  action: string;
  target: string | null;
  ip: string | null;
  detail: string | null;
}

export interface NewAuditEntry {
  actorId?: string | null;
  actorName: string;
  action: string;
  target?: string | null;
  ip?: string | null;
  detail?: string | null;
}
