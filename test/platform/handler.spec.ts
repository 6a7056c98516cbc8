/**
 * How a feature plugs into the platform, end to end on the real broker and database: an
 * @EventPattern controller in an app booted by `bootstrapService` receives the typed event
 * published through the platform's EventProducer, inside the producer's trace, and the
 * handling is counted in /metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, Module, type DynamicModule } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { SAMPLE_DATA, makeEvent, type AgentplaneEvent } from '@agentplane/contracts';
import { loadConfig, type ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer, type KafkaEventContext } from '@agentplane/messaging';
import {
  PlatformModule,
  bootstrapService,
  currentTraceparent,
  markProcessed,
  type RunningService,
} from '@agentplane/platform';
import { DataSource } from 'typeorm';
import { Client } from 'pg';
import { KAFKA_BROKERS, TestAdmin, eventually, waitForKafka } from '../support';
import { DATABASE_URL, suffix } from './helpers';
import { MIGRATIONS } from '../../apps/audit/src/migrations';

type Cancelled = AgentplaneEvent<'agentplane.session.cancelled'>;
const seen: Array<{ id: string; topic: string; traceparent?: string; first: boolean }> = [];

@Controller()
class ProbeHandlers {
  constructor(private readonly ds: DataSource) {}

  @EventPattern('agentplane.session.cancelled')
  async onCancelled(@Payload() event: Cancelled, @Ctx() ctx: KafkaEventContext): Promise<void> {
    const first = await this.ds.transaction((m) => markProcessed(m, event.id, event.type));
    seen.push({ id: event.id, topic: ctx.getTopic(), traceparent: currentTraceparent(), first });
  }
}

@Module({})
class ProbeAppModule {
  static register(config: ServiceConfig): DynamicModule {
    return {
      module: ProbeAppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [ProbeHandlers],
    };
  }
}

const run = suffix();
const prefix = `t-platform-${run}`;
const admin = new TestAdmin();
let service: RunningService | undefined;

before(async () => {
  await waitForKafka();
  await admin.createTopics([topicName(prefix, 'session-events'), topicName(prefix, 'dead-letters')], 2);
});

after(async () => {
  await service?.stop();
  await admin.close();
  const pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
  await pg.query(`DROP SCHEMA IF EXISTS "t_handler_${run}" CASCADE`);
  await pg.end();
});

test('an @EventPattern handler gets the typed event in its trace; metrics count it', { timeout: 120_000 }, async () => {
  const config = loadConfig('audit', {
    PORT: '0',
    HOST: '127.0.0.1',
    KAFKA_BROKERS,
    DATABASE_URL,
    DB_SCHEMA: `t_handler_${run}`,
    KAFKA_GROUP_ID: `t-handler-${run}`,
    AGENTPLANE_TOPIC_PREFIX: prefix,
    LOG_LEVEL: 'warn',
  });
  service = await bootstrapService({
    config,
    module: ProbeAppModule.register(config),
    transport: { topics: ['session-events'], fromBeginning: true },
    handleSignals: false,
  });

  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const event = makeEvent('agentplane.session.cancelled', SAMPLE_DATA['agentplane.session.cancelled'], {
    source: 'test',
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
  });
  const producer = service.app.get(EventProducer);
  const topic = topicName(prefix, 'session-events');
  await producer.publish(topic, [event, event]); // a redelivery: same id twice

  const got = await eventually(() => (seen.length >= 2 ? seen : undefined), { timeoutMs: 30_000, message: 'handled twice' });
  assert.equal(got[0]!.id, event.id);
  assert.equal(got[0]!.topic, topic);
  assert.deepEqual(
    got.map((g) => g.first),
    [true, false],
    'dedupe table: second delivery is recognised',
  );
  assert.match(got[0]!.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'handler runs in the producer trace');

  const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
  assert.match(
    metrics,
    new RegExp(`messages_handled_total\\{[^}]*type="agentplane.session.cancelled"[^}]*outcome="handled"[^}]*\\} 2`),
  );
  assert.match(metrics, /message_end_to_end_seconds_count\{[^}]*\} 2/);
});
