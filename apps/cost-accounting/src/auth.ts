import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request } from './http-types';
import { findAnalystByApiKey, findTenantByApiKey } from '@agentplane/tools';
import { CostConfig } from './cost-config';

export type Principal = { readonly kind: 'analyst'; readonly name: string } | { readonly kind: 'tenant'; readonly tenantId: string };

/**
 * API keys from tenants.yaml: an analyst key sees every tenant; a tenant key sees only its own
 * (403 when it names another tenant, 404 for another tenant's session, so ids do not leak).
 */
@Injectable()
export class ApiAuth {
  constructor(private readonly cfg: CostConfig) {}

  principal(req: Request): Principal {
    const h = req.headers.authorization;
    const key = typeof h === 'string' && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : (req.headers['x-api-key'] as string | undefined);
    if (!key) throw new UnauthorizedException('API key required: Authorization: Bearer <key> or X-API-Key');
    const analyst = findAnalystByApiKey(this.cfg.tenants, key);
    if (analyst) return { kind: 'analyst', name: analyst.name };
    const tenant = findTenantByApiKey(this.cfg.tenants, key);
    if (tenant) return { kind: 'tenant', tenantId: tenant.id };
    throw new UnauthorizedException('unknown API key');
  }

  /** The tenant filter for a query: a tenant key is pinned to its own tenant. */
  scope(p: Principal, requested?: string): string | undefined {
    if (p.kind === 'analyst') return requested || undefined;
    if (requested && requested !== p.tenantId) throw new ForbiddenException(`this key may not read tenant ${requested}`);
    return p.tenantId;
  }

  requireAnalyst(p: Principal): void {
    if (p.kind !== 'analyst') throw new ForbiddenException('analyst key required');
  }
}
