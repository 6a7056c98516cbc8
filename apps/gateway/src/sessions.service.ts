import { createHash } from 'node:crypto';
import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
  UnprocessableEntityException,
} from '@nestjs/common';
import canonicalize from 'canonicalize';
import { deterministicEventId, makeEvent, uuidv7, type SessionRequestedData } from '@agentplane/contracts';
import type { GatewaySettings, ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG, currentTraceparent } from '@agentplane/platform';
import type { Tenant } from '@agentplane/tools';
import { SessionStore } from './session-store';
import { isTerminalStatus, type SessionStatus, type SessionView } from './session-view';
import { Waiters } from './waiters';

export const GATEWAY_SETTINGS = Symbol.for('agentplane.gateway.settings');

export interface Submitted {
  sessionId: string;
  /** An earlier request with the same Idempotency-Key already created it. */
  replayed: boolean;
}

/** Submits, waits on and cancels sessions; the HTTP layer stays thin. */
@Injectable()
export class SessionsService {
  private readonly log = new Logger('Sessions');
  private readonly requestsTopic: string;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(GATEWAY_SETTINGS) readonly settings: GatewaySettings,
    @Inject(EventProducer) private readonly producer: EventProducer,
    private readonly store: SessionStore,
    private readonly waiters: Waiters,
  ) {
    this.requestsTopic = topicName(config.topicPrefix, 'session-requests');
  }

  /**
   * Records the session as requested and publishes `session.requested`. With an
   * Idempotency-Key the claim of the key, the session row and the publish share one transaction:
   * a concurrent retry waits on the key's row and then finds it, a failed publish leaves no
   * trace, and the same key with another body is refused (422).
   */
  async submit(tenant: Tenant, body: Record<string, unknown>, idempotencyKey?: string): Promise<Submitted> {
    const { sessionId: given, ...rest } = body as { sessionId?: string } & Record<string, unknown>;
    const sessionId = given ?? uuidv7();
    const data = { tenantId: tenant.id, sessionId, ...rest } as unknown as SessionRequestedData;
    const row = { sessionId, tenantId: tenant.id, input: data.input, mode: data.planner, model: data.model, webhookUrl: data.webhookUrl };
    const taken = () => new ConflictException({ statusCode: 409, error: 'Conflict', message: `session id ${sessionId} is already in use` });

    if (idempotencyKey === undefined) {
      if (!(await this.store.insertRequested(this.store.ds.manager, row))) throw taken();
      try {
        await this.publishRequest(data, uuidv7());
      } catch (err) {
        await this.store.deleteRequested(sessionId).catch(() => undefined);
        throw this.unavailable(err);
      }
      return { sessionId, replayed: false };
    }

    const requestHash = 'sha256:' + createHash('sha256').update(canonicalize(body) ?? '').digest('hex');
    return this.store.ds.transaction(async (m) => {
      const claim = await this.store.claimIdempotencyKey(m, tenant.id, idempotencyKey, requestHash, sessionId);
      if (!claim.claimed) {
        if (claim.existing.requestHash !== requestHash) {
          throw new UnprocessableEntityException({
            statusCode: 422,
            error: 'Unprocessable Entity',
            message: 'Idempotency-Key was already used with a different request body',
            sessionId: claim.existing.sessionId,
          });
        }
        return { sessionId: claim.existing.sessionId, replayed: true };
      }
      if (!(await this.store.insertRequested(m, row))) throw taken();
      // Same key → same event id: if the commit below fails after the publish, the retry's
      // republish is dropped downstream as a duplicate.
      await this.publishRequest(data, deterministicEventId('agentplane/gateway', tenant.id, idempotencyKey)).catch((err: unknown) => {
        throw this.unavailable(err);
      });
      return { sessionId, replayed: false };
    });
  }

  /**
   * Waits until the session is terminal or `budgetMs` passed, then returns its view. Woken in
   * process when this instance projects the outcome; re-checks the projection every
   * pollIntervalMs for outcomes projected by another instance.
   */
  async awaitOutcome(tenantId: string, sessionId: string, budgetMs: number): Promise<SessionView> {
    const deadline = Date.now() + budgetMs;
    for (;;) {
      const remaining = deadline - Date.now();
      // Register before reading, so an outcome projected in between still wakes us.
      const w = remaining > 0 && !this.waiters.closed ? this.waiters.next(sessionId, Math.min(remaining, this.settings.pollIntervalMs)) : undefined;
      const status = await this.store.status(tenantId, sessionId);
      if (!w || status === undefined || isTerminalStatus(status)) {
        w?.cancel();
        break;
      }
      await w.wake;
    }
    const view = await this.store.view(tenantId, sessionId);
    if (!view) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no session ${sessionId}` });
    return view;
  }

  /** Publishes `session.cancel-requested`; the planner decides. 404 unknown, 409 already ended. */
  async cancel(tenant: Tenant, sessionId: string, reason?: string): Promise<SessionStatus> {
    const status = await this.store.status(tenant.id, sessionId);
    if (status === undefined) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no session ${sessionId}` });
    if (isTerminalStatus(status)) {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `session ${sessionId} already ended: ${status}`, status });
    }
    const event = makeEvent(
      'agentplane.session.cancel-requested',
      { tenantId: tenant.id, sessionId, ...(reason !== undefined ? { reason } : {}) },
      { source: 'gateway', ...traceOpt() },
    );
    await this.producer.publish(this.requestsTopic, event, { key: sessionId }).catch((err: unknown) => {
      throw this.unavailable(err);
    });
    await this.store.markCancelRequested(tenant.id, sessionId);
    return status;
  }

  private async publishRequest(data: SessionRequestedData, id: string): Promise<void> {
    const event = makeEvent('agentplane.session.requested', data, { source: 'gateway', id, ...traceOpt() });
    await this.producer.publish(this.requestsTopic, event, { key: data.sessionId });
  }

  private unavailable(err: unknown): ServiceUnavailableException {
    this.log.error(`publishing to ${this.requestsTopic} failed: ${(err as Error)?.message ?? err}`);
    return new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'could not publish the request; retry later' });
  }
}

function traceOpt(): { traceparent?: string } {
  const tp = currentTraceparent();
  return tp ? { traceparent: tp } : {};
}
