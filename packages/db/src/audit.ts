import type { PanelPrisma } from './connect.ts';
import type { AuditEntryDto, NewAuditEntry } from './dto.ts';

export class AuditRepository {
  constructor(private readonly prisma: PanelPrisma) {}

  async record(entry: NewAuditEntry): Promise<AuditEntryDto> {
    return this.prisma.auditEntry.create({ data: entry });
  }

  /** The newest entries first. */
  async list(options: { limit: number }): Promise<AuditEntryDto[]> {
    return this.prisma.auditEntry.findMany({ orderBy: { id: 'desc' }, take: options.limit });
  }
}
