import { Logger } from '@nestjs/common';
import CircuitBreaker from 'opossum';
import type { CircuitState } from '@agentplane/contracts';
import type { ToolDefinition } from '@agentplane/tools';
import { countsAgainstBreaker } from './call-runner';
import type { CallOutcome } from './idempotency.store';

/** Used when a tool declares no `breaker`. */
export const DEFAULT_BREAKER = { errorThresholdPercentage: 50, resetTimeoutMs: 10_000, volumeThreshold: 10 } as const;

/** Carries a failed outcome through opossum so it counts as a failure, then hands it back. */
class CountedFailure extends Error {
  constructor(readonly outcome: CallOutcome) {
    super(outcome.kind === 'failed' ? outcome.error : 'failed');
  }
}

/**
 * One opossum breaker per tool. Our own per-attempt timeouts abort the request, so opossum's
 * shared timeout is off; only failures that say the tool is unwell (timeouts, unknown outcomes,
 * network errors, 5xx/429) count. State changes go to `onChange` (published as events).
 */
export class Breakers {
  private readonly log = new Logger('Breakers');
  private readonly byTool = new Map<string, CircuitBreaker<[() => Promise<CallOutcome>], CallOutcome>>();

  constructor(private readonly onChange: (tool: string, state: CircuitState) => void) {}

  private breakerFor(tool: ToolDefinition): CircuitBreaker<[() => Promise<CallOutcome>], CallOutcome> {
    let b = this.byTool.get(tool.name);
    if (b) return b;
    const cfg = tool.breaker ?? DEFAULT_BREAKER;
    b = new CircuitBreaker(
      async (fn: () => Promise<CallOutcome>) => {
        const o = await fn();
        if (countsAgainstBreaker(o)) throw new CountedFailure(o);
        return o;
      },
      {
        timeout: false,
        errorThresholdPercentage: cfg.errorThresholdPercentage,
        resetTimeout: cfg.resetTimeoutMs,
        volumeThreshold: cfg.volumeThreshold,
        rollingCountTimeout: 10_000,
        name: tool.name,
      },
    );
    b.on('open', () => this.changed(tool.name, 'open'));
    b.on('halfOpen', () => this.changed(tool.name, 'half_open'));
    b.on('close', () => this.changed(tool.name, 'closed'));
    this.byTool.set(tool.name, b);
    return b;
  }

  private changed(tool: string, state: CircuitState): void {
    this.log.warn(`circuit of ${tool} is now ${state}`);
    this.onChange(tool, state);
  }

  state(tool: string): CircuitState {
    const b = this.byTool.get(tool);
    return !b ? 'closed' : b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed';
  }

  /** Runs `fn` through the tool's breaker; while open, fails fast with `circuit_open`. */
  async run(tool: ToolDefinition, fn: () => Promise<CallOutcome>): Promise<CallOutcome> {
    try {
      return await this.breakerFor(tool).fire(fn);
    } catch (err) {
      if (err instanceof CountedFailure) return err.outcome;
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        return { kind: 'failed', code: 'circuit_open', error: `circuit breaker of ${tool.name} is open`, attempts: 0, latencyMs: 0, costUsd: '0' };
      }
      throw err;
    }
  }

  shutdown(): void {
    for (const b of this.byTool.values()) b.shutdown();
  }
}
