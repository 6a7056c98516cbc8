import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import {
  causedBy,
  deterministicEventId,
  makeEvent,
  type AgentplaneEvent,
  type CircuitState,
  type ToolCallAdmitted,
} from '@agentplane/contracts';
import type { ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG } from '@agentplane/platform';
import { abortableSleep, type ToolDefinition, type ToolRegistry } from '@agentplane/tools';
import { Breakers } from './breakers';
import { runCall, type RunDeps } from './call-runner';
import { IdempotencyStore, type CallOutcome } from './idempotency.store';
import { McpClients } from './mcp-invoker';
import { TOOL_REGISTRY } from './tokens';

const SOURCE = 'agentplane/executor';
/** Lease on a running call; renewed every quarter. A dead owner's call is taken over after it. */
export const LEASE_MS = 10_000;
/** How often a duplicate looks whether the running call finished. */
const BUSY_POLL_MS = 50;

/**
 * Executes admitted tool calls exactly once per idempotency key: claim in the store, run under
 * the tool's breaker, store the outcome, publish it (deterministic id). A redelivered or
 * duplicate admission gets the stored outcome; a concurrent duplicate waits for it.
 */
@Injectable()
export class ExecutorService implements OnApplicationShutdown {
  private readonly log = new Logger('Executor');
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  private readonly sessionTopic: string;
  private readonly controlTopic: string;
  /** Calls running in this process, by tool and key: in-process duplicates join them. */
  private readonly running = new Map<string, Promise<CallOutcome>>();
  private readonly breakers: Breakers;
  private readonly deps: RunDeps;
  private readonly stop = new AbortController();

  constructor(
    private readonly producer: EventProducer,
    private readonly store: IdempotencyStore,
    private readonly mcp: McpClients,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(TOOL_REGISTRY) private readonly registry: ToolRegistry,
  ) {
    this.sessionTopic = topicName(config.topicPrefix, 'session-events');
    this.controlTopic = topicName(config.topicPrefix, 'control-events');
    this.breakers = new Breakers((tool, state) => void this.publishCircuit(tool, state));
    this.deps = {
      registry,
      pace: (tool, signal) => this.pace(tool, signal),
      invokeOther: (tool, args, opts) => this.mcp.invoke(tool, args, opts),
      ...(config.faultInjection === 'executor:after-tool-response' ? { afterResponse: () => crash('after-tool-response') } : {}),
    };
  }

  onApplicationShutdown(): void {
    this.stop.abort();
    this.breakers.shutdown();
  }

  async onAdmitted(e: ToolCallAdmitted): Promise<void> {
    const d = e.data;
    const tool = this.registry.get(d.tool);
    let outcome: CallOutcome;
    if (!tool) {
      // The sandbox's first rule: only registry tools run.
      outcome = { kind: 'failed', code: 'blocked', error: `"${d.tool}" is not a registry tool`, attempts: 0, latencyMs: 0, costUsd: '0' };
    } else {
      const key = `${tool.name}\u0000${d.idempotencyKey}`;
      let p = this.running.get(key);
      if (!p) {
        p = this.execute(tool, e).finally(() => this.running.delete(key));
        this.running.set(key, p);
      }
      outcome = await p;
    }
    await this.producer.publish(this.sessionTopic, this.outcomeEvent(e, outcome));
    if (this.config.faultInjection === 'executor:after-publish') crash('after-publish');
  }

  private async execute(tool: ToolDefinition, e: ToolCallAdmitted): Promise<CallOutcome> {
    const d = e.data;
    const k = { tool: tool.name, idempotencyKey: d.idempotencyKey };
    for (;;) {
      const c = await this.store.claim(k, d.sessionId, d.callId, this.owner, LEASE_MS);
      if (c.kind === 'done') return c.outcome;
      if (c.kind === 'claimed') break;
      await abortableSleep(BUSY_POLL_MS, this.stop.signal);
    }
    const renew = setInterval(() => void this.store.renew(k, this.owner, LEASE_MS).catch(() => undefined), LEASE_MS / 4);
    try {
      const outcome = await this.breakers.run(tool, () => runCall(tool, d.args, d.idempotencyKey, new AbortController().signal, this.deps));
      if (outcome.kind === 'failed' && outcome.code !== 'circuit_open') {
        this.log.warn(`${tool.name} ${d.sessionId}/${d.callId}: ${outcome.code}: ${outcome.error}`);
      }
      return await this.store.complete(k, outcome);
    } finally {
      clearInterval(renew);
    }
  }

  /** Waits for a token of the tool's bucket shared by all executors. */
  private async pace(tool: ToolDefinition, signal: AbortSignal): Promise<void> {
    for (;;) {
      const t = await this.store.takeToken(tool.name, tool.rateLimit.rps, tool.rateLimit.burst);
      if (t.ok) return;
      await abortableSleep(t.waitMs, signal);
    }
  }

  private outcomeEvent(e: ToolCallAdmitted, o: CallOutcome): AgentplaneEvent {
    const d = e.data;
    const base = { tenantId: d.tenantId, sessionId: d.sessionId, callId: d.callId, tool: d.tool };
    // One outcome per call: a redelivered admission re-publishes the same event id.
    const opts = { source: SOURCE, id: deterministicEventId(SOURCE, 'outcome', d.sessionId, d.callId), ...causedBy(e) };
    return o.kind === 'succeeded'
      ? makeEvent('agentplane.tool.call.succeeded', { ...base, result: o.result, attempts: o.attempts, latencyMs: o.latencyMs, costUsd: o.costUsd }, opts)
      : makeEvent('agentplane.tool.call.failed', { ...base, error: o.error, code: o.code, attempts: o.attempts, latencyMs: o.latencyMs, costUsd: o.costUsd }, opts);
  }

  private async publishCircuit(tool: string, state: CircuitState): Promise<void> {
    try {
      await this.producer.publish(this.controlTopic, makeEvent('agentplane.tool.circuit.changed', { tool, state }, { source: SOURCE }));
    } catch (err) {
      this.log.error(`publishing circuit ${tool} ${state}: ${(err as Error).message}`);
    }
  }
}

/** Test-only crash point: dies at once, like a power cut, leaving no chance to clean up. */
function crash(point: string): never {
  process.stderr.write(`fault injection: SIGKILL at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}
