import { Controller, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { AuditStore } from '@agentplane/audit';
import { HandlerError } from '@agentplane/messaging';
import { AppendBatcher } from './append-batcher';

/** Keeps every event of session-events, control-events and dead-letters (one wildcard handler). */
@Controller()
export class IngestController {
  private readonly log = new Logger('AuditIngest');
  private readonly batcher: AppendBatcher;

  constructor(store: AuditStore) {
    this.batcher = new AppendBatcher(store);
  }

  @EventPattern('*')
  async record(@Payload() event: AgentplaneEvent): Promise<void> {
    const r = await this.batcher.append(event);
    if (!r.same) {
      // Same id, different content: keep the first, and leave the second on record as a dead letter.
      this.log.warn(`event ${event.id} reused with different content (stored at ${r.streamId}#${r.position})`);
      throw new HandlerError(`event id ${event.id} is already stored with different content (stream ${r.streamId} position ${r.position})`);
    }
  }
}
