import type { AgentplaneEvent } from '@agentplane/contracts';
import type { AppendOutcome, AuditStore } from '@agentplane/audit';

interface Waiting {
  event: AgentplaneEvent;
  ok: (o: AppendOutcome) => void;
  fail: (e: unknown) => void;
}

/**
 * Groups appends that arrive together (partitions are handled concurrently) into one
 * append_events() call: one transaction and one commit for many events, while every handler
 * still awaits its own event's outcome, so offsets are committed only after the row is.
 */
export class AppendBatcher {
  private queue: Waiting[] = [];
  private running = false;

  constructor(
    private readonly store: AuditStore,
    private readonly maxBatch = 256,
  ) {}

  append(event: AgentplaneEvent): Promise<AppendOutcome> {
    return new Promise((ok, fail) => {
      this.queue.push({ event, ok, fail });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.store.append(batch.map((w) => w.event));
        batch.forEach((w, i) => w.ok(results[i]));
      } catch (err) {
        for (const w of batch) w.fail(err);
      }
    }
    this.running = false;
  }
}
