import { join } from 'node:path';
import {
  createParamDecorator,
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { ServiceConfig } from '@agentplane/config';
import { SERVICE_CONFIG } from '@agentplane/platform';
import { findTenantByApiKey, loadTenants, type Tenant, type TenantsConfig } from '@agentplane/tools';

/** tenants.yaml from the config directory, validated at boot (a bad file stops the gateway). */
@Injectable()
export class TenantDirectory {
  readonly config: TenantsConfig;
  constructor(@Inject(SERVICE_CONFIG) service: ServiceConfig) {
    this.config = loadTenants(join(service.configDir, 'tenants.yaml'));
  }
  byApiKey(key: string): Tenant | undefined {
    return findTenantByApiKey(this.config, key);
  }
}

type AuthedRequest = { headers: Record<string, string | string[] | undefined>; tenant?: Tenant };

/**
 * `Authorization: Bearer <key>` → the tenant whose hashed key matches, else 401. Runs before
 * body validation, so an unauthenticated caller learns nothing about the body rules. The key
 * itself is never logged or kept: only the matched tenant travels on the request.
 */
@Injectable()
export class TenantAuthGuard implements CanActivate {
  constructor(private readonly tenants: TenantDirectory) {}

  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const unauthorized = (message: string) => {
      ctx.switchToHttp().getResponse<{ setHeader(n: string, v: string): void }>().setHeader('WWW-Authenticate', 'Bearer realm="agentplane"');
      return new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message });
    };
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!m) throw unauthorized('missing API key: send Authorization: Bearer <key>');
    const tenant = this.tenants.byApiKey(m[1]!);
    if (!tenant) throw unauthorized('unknown API key');
    req.tenant = tenant;
    return true;
  }
}

/** The tenant the guard resolved. */
export const CurrentTenant = createParamDecorator((_: unknown, ctx: ExecutionContext): Tenant => {
  return ctx.switchToHttp().getRequest<AuthedRequest>().tenant!;
});
