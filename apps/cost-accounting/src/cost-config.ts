import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import type { ServiceConfig } from '@agentplane/config';
import { loadPriceBook, recordPriceTable, PriceBook } from '@agentplane/ledger';
import { SERVICE_CONFIG } from '@agentplane/platform';
import { loadPrices, loadTenants, type TenantsConfig } from '@agentplane/tools';

/** The pg pool behind the platform's DataSource (search_path = this service's schema). */
export function poolOf(ds: DataSource): Pool {
  return (ds.driver as unknown as { master: Pool }).master;
}

/**
 * tenants.yaml and prices.yaml, reloaded when their files change (the guardrail ticker asks).
 * Each prices.yaml version is recorded once in price_tables; pricing reads the recorded
 * versions (PriceBook), so live pricing and rebuilds agree.
 */
@Injectable()
export class CostConfig implements OnModuleInit {
  private readonly log = new Logger('CostConfig');
  tenants: TenantsConfig;
  prices: PriceBook = new PriceBook([]);
  private mtimes = { tenants: 0, prices: 0 };
  readonly pool: Pool;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    ds: DataSource,
  ) {
    this.pool = poolOf(ds);
    // Boot fails on a bad file: better than running without forecasts.
    this.tenants = loadTenants(this.file('tenants.yaml'));
    this.mtimes.tenants = this.mtime('tenants.yaml');
  }

  async onModuleInit(): Promise<void> {
    await this.reloadPrices(true);
  }

  file(name: string): string {
    return join(this.config.configDir, name);
  }

  private mtime(name: string): number {
    try {
      return statSync(this.file(name)).mtimeMs;
    } catch {
      return 0;
    }
  }

  private async reloadPrices(boot = false): Promise<void> {
    const path = this.file('prices.yaml');
    const m = this.mtime('prices.yaml');
    try {
      const table = loadPrices(path);
      const r = await recordPriceTable(this.pool, table, path);
      if (r.recorded) this.log.log(`recorded prices.yaml version ${table.version}`);
      if (r.conflict) {
        this.log.warn(`prices.yaml version ${table.version} differs from the recorded version ${table.version}; bump "version" to change prices (keeping the recorded one)`);
      }
      this.mtimes.prices = m;
    } catch (err) {
      if (boot) throw err;
      this.log.warn(`prices.yaml not reloaded: ${(err as Error).message}`);
      this.mtimes.prices = m;
    }
    this.prices = await loadPriceBook(this.pool);
  }

  /** Reloads changed files; returns true when tenants changed (forecasts may have moved). */
  async reloadIfChanged(): Promise<boolean> {
    let tenantsChanged = false;
    const mt = this.mtime('tenants.yaml');
    if (mt !== this.mtimes.tenants) {
      this.mtimes.tenants = mt;
      try {
        this.tenants = loadTenants(this.file('tenants.yaml'));
        tenantsChanged = true;
        this.log.log('tenants.yaml reloaded');
      } catch (err) {
        this.log.warn(`tenants.yaml not reloaded (keeping the previous one): ${(err as Error).message}`);
      }
    }
    if (this.mtime('prices.yaml') !== this.mtimes.prices) await this.reloadPrices();
    return tenantsChanged;
  }
}
