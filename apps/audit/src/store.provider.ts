import { Logger, type Provider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditSettings, ServiceConfig } from '@agentplane/config';
import { AuditStore } from '@agentplane/audit';
import { SERVICE_CONFIG } from '@agentplane/platform';
import { AUDIT_SETTINGS } from './tokens';

/**
 * The store's own pool, acting as the writer role (SELECT + INSERT only) when the connecting
 * user may assume it. Injects DataSource so it is built after the migrations ran.
 */
export const storeProvider: Provider = {
  provide: AuditStore,
  inject: [SERVICE_CONFIG, AUDIT_SETTINGS, DataSource],
  useFactory: async (config: ServiceConfig, settings: AuditSettings, ds: DataSource): Promise<AuditStore> => {
    const log = new Logger('AuditStore');
    let role = settings.dbRole;
    if (role) {
      const [r] = (await ds.query(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AND pg_has_role(current_user, $1, 'MEMBER') AS ok`, [role])) as Array<{ ok: boolean }>;
      if (!r?.ok) {
        log.warn(`cannot act as role ${role} (missing, or ${'current user'} is not a member): writing as the connecting user; see docs/audit.md`);
        role = null;
      }
    }
    const store = AuditStore.open({ databaseUrl: config.databaseUrl, schema: config.dbSchema, role, max: 6, applicationName: 'agentplane-audit' });
    log.log(`writing to ${config.dbSchema}.events as ${await store.currentRole()}`);
    return store;
  },
};
