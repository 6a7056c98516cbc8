import { Controller, Injectable } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { AgentplaneEvent } from '@agentplane/contracts';
import {
  advanceOffset,
  claimOffset,
  contribution,
  factOf,
  insertLedger,
  markProcessed,
  monthOf,
  upsertRow,
} from '@agentplane/ledger';
import type { KafkaEventContext } from '@agentplane/messaging';
import { CostConfig } from './cost-config';
import { GuardrailService } from './guardrail.service';
import { OpsMetrics } from './ops-metrics';

export type ApplyOutcome = 'applied' | 'duplicate' | 'already-projected' | 'ignored';

/**
 * Books one event into the ledger and projections, in one transaction: the partition's
 * checkpoint (skip what a rebuild already contains), the dedupe by source event id (ledger
 * primary key, or processed_events), the upserts, then the guardrail. Any error rolls it all
 * back and the transport retries the record.
 */
@Injectable()
export class LedgerService {
  constructor(
    private readonly cfg: CostConfig,
    private readonly guardrail: GuardrailService,
    private readonly metrics: OpsMetrics,
  ) {}

  async apply(event: AgentplaneEvent, pos: { topic: string; partition: number; offset: string }): Promise<ApplyOutcome> {
    const fact = factOf(event);
    if (!fact) return 'ignored';
    const db = await this.cfg.pool.connect();
    try {
      await db.query('BEGIN');
      if (!(await claimOffset(db, pos.topic, pos.partition, pos.offset))) {
        await db.query('COMMIT');
        return 'already-projected';
      }
      const ctb = contribution(fact, this.cfg.prices);
      const first = ctb.ledger ? await insertLedger(db, ctb.ledger) : await markProcessed(db, fact.id, fact.type);
      if (first) {
        for (const [table, row] of ctb.rows) await upsertRow(db, table, row);
        if (ctb.ledger) await this.guardrail.afterSpend(db, fact.tenantId, monthOf(fact.timeMs));
      }
      await advanceOffset(db, pos.topic, pos.partition, pos.offset);
      await db.query('COMMIT');
      if (first) this.metrics.observe(fact, ctb);
      return first ? 'applied' : 'duplicate';
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release();
    }
  }
}

/** Every event of the subscribed topics; types no projection reads are skipped in `apply`. */
@Controller()
export class LedgerHandlers {
  constructor(private readonly ledger: LedgerService) {}

  @EventPattern('*')
  async onEvent(@Payload() event: AgentplaneEvent, @Ctx() ctx: KafkaEventContext): Promise<void> {
    await this.ledger.apply(event, { topic: ctx.getTopic(), partition: ctx.getPartition(), offset: ctx.getOffset() });
  }
}
