import type { PanelPrisma } from './connect.ts';
import type { SessionDto, UserDto } from './dto.ts';
import { toUserDto } from './users.ts';

export class SessionRepository {
  constructor(private readonly prisma: PanelPrisma) {}

  async create(input: { tokenHash: string; userId: string; expiresAt: Date }): Promise<SessionDto> {
    const row = await this.prisma.session.create({ data: input });
    return { id: row.id, userId: row.userId, createdAt: row.createdAt, expiresAt: row.expiresAt };
  }

  /** The session with this token hash and its user, if it has not expired at `now`. */
  async findActive(tokenHash: string, now: Date): Promise<{ session: SessionDto; user: UserDto } | null> {
    const row = await this.prisma.session.findUnique({ where: { tokenHash }, include: { user: true } });
    if (!row || row.expiresAt <= now) return null;
    const { user, ...session } = row;
    return {
      session: {
        id: session.id,
        userId: session.userId,
        createdAt: session.createdAt,
        expiresAt: session.expiresAt,
      },
      user: toUserDto(user),
    };
  }

  async delete(tokenHash: string): Promise<void> {
    await this.prisma.session.deleteMany({ where: { tokenHash } });
  }

  /** Removes sessions that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return (await this.prisma.session.deleteMany({ where: { expiresAt: { lte: now } } })).count;
  }
}
