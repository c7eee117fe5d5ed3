import type { PanelPrisma } from './connect.ts';
import type { UserCredentials, UserDto, UserRole } from './dto.ts';

type UserRow = { id: string; username: string; role: string; createdAt: Date; passwordHash: string };

export const toUserDto = (row: UserRow): UserDto => ({
  id: row.id,
  username: row.username,
  role: row.role === 'admin' ? 'admin' : 'member',
  createdAt: row.createdAt,
});

export class UserRepository {
  constructor(private readonly prisma: PanelPrisma) {}

  async create(input: { username: string; passwordHash: string; role: UserRole }): Promise<UserDto> {
    return toUserDto(await this.prisma.user.create({ data: input }));
  }

  async findById(id: string): Promise<UserDto | null> {
    const row = await this.prisma.user.findUnique({ where: { id } });
    return row ? toUserDto(row) : null;
  }

  async credentials(username: string): Promise<UserCredentials | null> {
    const row = await this.prisma.user.findUnique({ where: { username } });
    return row ? { ...toUserDto(row), passwordHash: row.passwordHash } : null;
  }

  async count(): Promise<number> {
    return this.prisma.user.count();
  }
}
