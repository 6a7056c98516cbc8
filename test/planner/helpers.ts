/** Shared by the planner-at-scale acceptance tests: a live reader of the log, and submitting. */
import type { Consumer } from 'kafkajs';
import { decode, encode, makeEvent, uuidv7, type AgentplaneEvent, type EventType } from '@agentplane/contracts';
import type { RecordedRequest } from '../fixtures/fake-openai.server';
import { testKafka } from '../support';
import type { Stack } from '../support/stack';

export const ACME = 'ap_demo_acme_3f9c2b7e1d4a';

/** Every event on session-events and control-events, decoded, as it arrives. */
export class LogReader {
  readonly events: AgentplaneEvent[] = [];
  private consumer?: Consumer;

  static async start(stack: Stack): Promise<LogReader> {
    const r = new LogReader();
    const c = testKafka('planner-scale-reader').consumer({ groupId: `reader-${stack.prefix}-${uuidv7()}`, maxWaitTimeInMs: 50 });
    r.consumer = c;
    await c.connect();
    await c.subscribe({ topics: [stack.topic('session-events'), stack.topic('control-events')], fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        const d = decode(message.value);
        if (d.ok) r.events.push(d.event);
      },
    });
    return r;
  }

  of<T extends EventType>(type: T, where: (e: AgentplaneEvent<T>) => boolean = () => true): AgentplaneEvent<T>[] {
    return this.events.filter((e) => e.type === type).map((e) => e as AgentplaneEvent<T>).filter(where);
  }

  session(id: string): AgentplaneEvent[] {
    return this.events.filter((e) => e.subject === id);
  }

  ended(id: string): AgentplaneEvent | undefined {
    return this.session(id).find((e) => ['agentplane.session.completed', 'agentplane.session.failed', 'agentplane.session.rejected'].includes(e.type));
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** Publishes session requests straight to Kafka in one send: they reach the planner together. */
export async function publishRequests(stack: Stack, requests: Array<{ input: string; sessionId?: string; tenantId?: string; [k: string]: unknown }>): Promise<string[]> {
  const producer = testKafka('planner-scale-producer').producer();
  await producer.connect();
  try {
    const events = requests.map((r) => makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId: uuidv7(), ...r } as never, { source: 'test' }));
    await producer.send({ topic: stack.topic('session-requests'), messages: events.map((e) => ({ key: e.subject!, value: encode(e) })) });
    return events.map((e) => e.subject!);
  } finally {
    await producer.disconnect();
  }
}

/** The user message of a Chat Completions request: the task, which our scripts key on. */
export function taskOf(req: RecordedRequest): string {
  const msgs = (req.body.messages ?? []) as Array<{ role: string; content?: unknown }>;
  const user = msgs.find((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : JSON.stringify(user?.content);
}

/** Planner steps so far in the conversation (assistant turns already made). */
export function turnOf(req: RecordedRequest): number {
  return ((req.body.messages ?? []) as Array<{ role: string }>).filter((m) => m.role === 'assistant').length;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
