import { Init1764028800000 } from '@agentplane/platform';
import { AuditStore1764201600000 } from './1764201600000-audit-store';

/** Every migration of audit, oldest first. Append new ones; never edit a shipped one. */
export const MIGRATIONS = [Init1764028800000, AuditStore1764201600000];
