import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { ModeService } from './mode.service';
import { PlannerService } from './planner.service';

/** Thin Kafka adapter: each fact goes to one planner call. */
@Controller()
export class PlannerHandlers {
  constructor(
    private readonly planner: PlannerService,
    private readonly modes: ModeService,
  ) {}

  /** Control-events: this and every other planner instance's mode changes. */
  @EventPattern('agentplane.planner.mode.changed')
  modeChanged(@Payload() e: AgentplaneEvent<'agentplane.planner.mode.changed'>): Promise<void> {
    return this.modes.apply(e);
  }

  @EventPattern('agentplane.session.requested')
  requested(@Payload() e: AgentplaneEvent<'agentplane.session.requested'>): Promise<void> {
    return this.planner.onRequested(e);
  }

  @EventPattern('agentplane.session.cancel-requested')
  cancelRequested(@Payload() e: AgentplaneEvent<'agentplane.session.cancel-requested'>): Promise<void> {
    return this.planner.onCancelRequested(e);
  }

  @EventPattern('agentplane.tool.call.succeeded')
  succeeded(@Payload() e: AgentplaneEvent<'agentplane.tool.call.succeeded'>): Promise<void> {
    return this.planner.onToolOutcome(e);
  }

  @EventPattern('agentplane.tool.call.failed')
  failed(@Payload() e: AgentplaneEvent<'agentplane.tool.call.failed'>): Promise<void> {
    return this.planner.onToolOutcome(e);
  }

  @EventPattern('agentplane.tool.call.rejected')
  rejected(@Payload() e: AgentplaneEvent<'agentplane.tool.call.rejected'>): Promise<void> {
    return this.planner.onToolOutcome(e);
  }
}
