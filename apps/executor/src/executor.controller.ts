import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { ToolCallAdmitted } from '@agentplane/contracts';
import { ExecutorService } from './executor.service';

@Controller()
export class ExecutorController {
  constructor(private readonly executor: ExecutorService) {}

  @EventPattern('agentplane.tool.call.admitted')
  onAdmitted(@Payload() e: ToolCallAdmitted): Promise<void> {
    return this.executor.onAdmitted(e);
  }
}
