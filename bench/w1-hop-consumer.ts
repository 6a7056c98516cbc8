// W1 consumer side: a Nest microservice on KafkaEventTransport (the stack services use) that
// stamps each event on arrival in its handler and reports the latencies over IPC.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload } from '@nestjs/microservices';
import { createKafka, KafkaEventTransport, type Decoder, type MinimalEvent } from '@agentplane/messaging';

interface HopEvent extends MinimalEvent {
  type: 'agentplane.bench.hop';
  data: { seq: number; sentAtUs: number; warmup: boolean };
}

// CLOCK_MONOTONIC is one clock for every process on the machine: no wall-clock skew.
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const latenciesUs: number[] = [];
let received = 0;

@Controller()
class HopController {
  @EventPattern('agentplane.bench.hop')
  onHop(@Payload() e: HopEvent): void {
    const at = nowUs();
    received++;
    if (!e.data.warmup) latenciesUs.push(at - e.data.sentAtUs);
  }
}

@Module({ controllers: [HopController] })
class HopModule {}

const decode: Decoder<HopEvent> = (value) => {
  try {
    const e = JSON.parse(value!.toString('utf8')) as HopEvent;
    return e && e.type === 'agentplane.bench.hop' ? { ok: true, event: e } : { ok: false, reason: 'not a hop event' };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
};

async function main(): Promise<void> {
  const env = process.env;
  const transport = new KafkaEventTransport<HopEvent>({
    kafka: createKafka({ brokers: env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 'w1-hop-consumer', logLevel: 'nothing' }),
    groupId: env.GROUP!,
    topics: [env.TOPIC!],
    deadLetterTopic: env.DLQ!,
    decode,
    fromBeginning: true,
    maxWaitTimeInMs: Number(env.MAX_WAIT_MS ?? '20'),
    partitionsConsumedConcurrently: Number(env.CONCURRENCY ?? '12'),
    commitIntervalMs: Number(env.COMMIT_MS ?? '1000'),
  });
  const app = await NestFactory.createMicroservice(HopModule, { strategy: transport, logger: ['error', 'warn'] });
  await app.listen();
  process.on('message', async (m: unknown) => {
    if (m === 'report') {
      process.send!({ kind: 'report', received, latenciesUs: latenciesUs.splice(0) });
    } else if (m === 'count') {
      process.send!({ kind: 'count', received });
    } else if (m === 'stop') {
      await app.close();
      process.exit(0);
    }
  });
  process.send!({ kind: 'ready' });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
