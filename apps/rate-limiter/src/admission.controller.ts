import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type {
  BudgetGuardrailCleared,
  BudgetGuardrailTripped,
  ToolCallFailed,
  ToolCallRequested,
  ToolCallSucceeded,
  ToolCircuitChanged,
} from '@agentplane/contracts';
import { AdmissionService } from './admission.service';

/** Session events (requests, outcomes) and control events (guardrails, circuits). */
@Controller()
export class AdmissionController {
  constructor(private readonly admission: AdmissionService) {}

  @EventPattern('agentplane.tool.call.requested')
  onRequested(@Payload() e: ToolCallRequested): Promise<void> {
    return this.admission.onRequested(e);
  }

  @EventPattern('agentplane.tool.call.succeeded')
  onSucceeded(@Payload() e: ToolCallSucceeded): Promise<void> {
    return this.admission.onOutcome(e);
  }

  @EventPattern('agentplane.tool.call.failed')
  onFailed(@Payload() e: ToolCallFailed): Promise<void> {
    return this.admission.onOutcome(e);
  }

  @EventPattern('agentplane.budget.guardrail.tripped')
  onTripped(@Payload() e: BudgetGuardrailTripped): Promise<void> {
    return this.admission.onGuardrail(e);
  }

  @EventPattern('agentplane.budget.guardrail.cleared')
  onCleared(@Payload() e: BudgetGuardrailCleared): Promise<void> {
    return this.admission.onGuardrail(e);
  }

  @EventPattern('agentplane.tool.circuit.changed')
  onCircuit(@Payload() e: ToolCircuitChanged): Promise<void> {
    return this.admission.onCircuit(e);
  }
}
