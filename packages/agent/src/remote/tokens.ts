import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TOKEN_PREFIX, type TokenInfo, TokenName } from '@berth/contracts';
import type { AgentDb } from '../db/index.ts';
import { AgentError } from '../errors.ts';

// Bearer tokens for the TCP listener. A token is "berth_" + 32 random bytes (base64url),
// shown once; the database keeps its SHA-256 only. Every request looks its hash up, so a
// revoked token stops working at the next request, whichever process revoked it.

/** How often a token's lastUsedAt is written at most (not a write per request). */
const LAST_USED_EVERY_MS = 60_000;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export class TokenStore {
  constructor(private readonly db: AgentDb) {}

  async create(name: string): Promise<{ token: string; info: TokenInfo }> {
    const parsed = TokenName.safeParse(name);
    if (!parsed.success)
      throw new AgentError('INVALID_INPUT', `invalid name: ${parsed.error.issues[0]!.message}`);
    if (await this.db.apiToken.findUnique({ where: { name } }))
      throw new AgentError(
        'CONFLICT',
        `a token named ${name} exists already; revoke it first or choose another name`,
      );
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = await this.db.apiToken.create({
      data: { id: randomBytes(6).toString('hex'), name, hash: hashToken(token) },
    });
    return { token, info: toInfo(row) };
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.db.apiToken.findMany({ orderBy: { createdAt: 'asc' } })).map(toInfo);
  }

  /** Revokes by name or id; the revoked token's info. */
  async revoke(nameOrId: string): Promise<TokenInfo> {
    const row = await this.db.apiToken.findFirst({ where: { OR: [{ name: nameOrId }, { id: nameOrId }] } });
    if (!row) throw new AgentError('NOT_FOUND', `token ${nameOrId} not found`);
    await this.db.apiToken.delete({ where: { id: row.id } });
    return toInfo(row);
  }

  /** The token's info when it is valid now, else undefined. */
  async verify(token: string): Promise<TokenInfo | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const row = await this.db.apiToken.findUnique({ where: { hash } });
    // The lookup is by hash already; the comparison keeps a timing-safe habit anyway.
    if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return undefined;
    const now = Date.now();
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_EVERY_MS)
      await this.db.apiToken
        .update({ where: { id: row.id }, data: { lastUsedAt: new Date(now) } })
        .catch(() => {});
    return toInfo(row);
  }
}

function toInfo(row: { id: string; name: string; createdAt: Date; lastUsedAt: Date | null }): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}
