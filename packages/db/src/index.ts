export type { AuditRepository } from './audit.ts';
export { migratePanelDb, type PanelDbLocation, type PanelDbProvider, panelDbLocation } from './connect.ts';
export type { AuditEntryDto, NewAuditEntry, SessionDto, UserCredentials, UserDto, UserRole } from './dto.ts';
export { openPanelDb, type PanelDb } from './panel-db.ts';
export type { SessionRepository } from './sessions.ts';
export type { UserRepository } from './users.ts';
