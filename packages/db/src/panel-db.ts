import { AuditRepository } from './audit.ts';
import { migratePanelDb, type PanelDbLocation, type PanelDbProvider, prismaFor } from './connect.ts';
import { SessionRepository } from './sessions.ts';
import { UserRepository } from './users.ts';

export interface PanelDb {
  readonly provider: PanelDbProvider;
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly audit: AuditRepository;
  close(): Promise<void>;
}

/**
 * Opens the panel DB, applying pending committed migrations first (from
 * `<migrationsRoot>/<provider>/migrations`, i.e. prisma/panel/).
 */
export async function openPanelDb(location: PanelDbLocation, migrationsRoot: string): Promise<PanelDb> {
  await migratePanelDb(location, migrationsRoot);
  const prisma = prismaFor(location);
  await prisma.$connect();
  return {
    provider: location.provider,
    users: new UserRepository(prisma),
    sessions: new SessionRepository(prisma),
    audit: new AuditRepository(prisma),
    close: () => prisma.$disconnect(),
  };
}
