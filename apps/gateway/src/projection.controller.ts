import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { EVENT_TYPES, EVENT_TYPE_NAMES, type SessionEvent } from '@agentplane/contracts';
import { PlannerLatency } from './planner-latency';
import { SessionStore, TERMINAL_TYPES } from './session-store';
import { Waiters } from './waiters';
import { WebhookDispatcher } from './webhook-dispatcher';

/** Every type on session-events: the gateway projects them all. */
export const PROJECTED_TYPES = EVENT_TYPE_NAMES.filter((t) => EVENT_TYPES[t].topic === 'session-events');

/** Consumes session-events into the gateway's projection and wakes requests waiting on an outcome. */
@Controller()
export class ProjectionHandlers {
  constructor(
    private readonly store: SessionStore,
    private readonly waiters: Waiters,
    private readonly latency: PlannerLatency,
    private readonly webhooks: WebhookDispatcher,
  ) {}

  @EventPattern(PROJECTED_TYPES)
  async onSessionEvent(@Payload() event: SessionEvent): Promise<void> {
    const fresh = await this.store.project(event);
    if (fresh && (event.type === 'agentplane.planner.step.completed' || event.type === 'agentplane.planner.step.failed')) {
      this.latency.observe(event.data.latencyMs, Date.parse(event.time));
    }
    // After the commit, so a woken request reads the outcome. Also on a redelivery: harmless.
    if (TERMINAL_TYPES.has(event.type)) {
      this.waiters.notify(event.data.sessionId);
      this.webhooks.kick();
    }
  }
}
