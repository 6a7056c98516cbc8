import { Injectable, type OnModuleDestroy } from '@nestjs/common';

/**
 * In-process wake-ups for requests waiting on a session's outcome: the projection calls
 * `notify` after it committed a terminal event. Only a hint: a waiter re-reads the projection
 * when woken, and also on a timer (another gateway instance may own the session's partition).
 */
@Injectable()
export class Waiters implements OnModuleDestroy {
  private readonly waiting = new Map<string, Set<() => void>>();
  /** Set on shutdown: waiting requests answer (202) at once instead of holding the HTTP close. */
  closed = false;

  onModuleDestroy(): void {
    this.closed = true;
    for (const id of [...this.waiting.keys()]) this.notify(id);
  }

  /** A promise that resolves on the next `notify(sessionId)` or after `ms`, and its cancel. */
  next(sessionId: string, ms: number): { wake: Promise<void>; cancel: () => void } {
    let done!: () => void;
    const wake = new Promise<void>((resolve) => (done = resolve));
    const set = this.waiting.get(sessionId) ?? new Set<() => void>();
    this.waiting.set(sessionId, set);
    const timer = setTimeout(() => fire(), Math.max(0, ms));
    const fire = () => {
      clearTimeout(timer);
      set.delete(fire);
      if (set.size === 0 && this.waiting.get(sessionId) === set) this.waiting.delete(sessionId);
      done();
    };
    set.add(fire);
    return { wake, cancel: fire };
  }

  notify(sessionId: string): void {
    const set = this.waiting.get(sessionId);
    if (!set) return;
    for (const fire of [...set]) fire();
  }

  size(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }
}
