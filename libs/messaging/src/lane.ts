/**
 * One partition's records between fetch and commit. kafkajs fetches again only once every batch
 * of the previous fetch was handled, so a handler that waits a second (a model call) held every
 * partition of the member. The transport hands records to a lane and returns at once; the lane
 * runs them (same key in order, up to `limit` at a time) and reports the contiguous run of
 * finished records, which is all that may be committed.
 */
export type RunResult = 'done' | 'redeliver' | 'abort';

export interface LaneRecord {
  readonly offset: string;
}

export interface LaneDeps<R extends LaneRecord> {
  /** Records scheduled at once (running or waiting behind their key). */
  limit: number;
  /** Records with the same key run one after another, in offset order. */
  keyOf: (record: R, offset: bigint) => string;
  run: (record: R) => Promise<RunResult>;
  /** The watermark passed `record`: it and everything before it is finished. */
  onHandled: (record: R) => void;
  /** Retries ran out at `record`; the lane already dropped it and everything after it. */
  onFailed: (record: R) => void;
  /** A record finished or was dropped (for back-pressure). */
  onSettled?: () => void;
}

interface Entry<R> {
  readonly record: R;
  readonly offset: bigint;
  readonly key: string;
  done: boolean;
  cancelled: boolean;
}

export class Lane<R extends LaneRecord> {
  /** Accepted and not dropped, in offset order; `head` is the first not yet passed by the watermark. */
  private window: Entry<R>[] = [];
  private head = 0;
  private readonly waiting: Entry<R>[] = [];
  private waitingHead = 0;
  private scheduled = 0;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  /** Offsets below this were accepted already (a stale batch repeats them); null = take any. */
  private next: bigint | null = null;
  private stopped = false;

  constructor(private readonly deps: LaneDeps<R>) {}

  /** Records accepted and neither passed by the watermark nor dropped. */
  get buffered(): number {
    return this.window.length - this.head;
  }

  accept(records: readonly R[]): void {
    for (const record of records) {
      const offset = BigInt(record.offset);
      if (this.next !== null && offset < this.next) continue;
      this.next = offset + 1n;
      const entry: Entry<R> = { record, offset, key: this.deps.keyOf(record, offset), done: false, cancelled: false };
      this.window.push(entry);
      this.waiting.push(entry);
    }
    this.pump();
  }

  /** Drops every record at or after `offset` (all when absent); running ones finish, unreported. */
  cancelFrom(offset?: bigint): void {
    const from = offset ?? -1n;
    let cut = this.window.length;
    while (cut > this.head && this.window[cut - 1].offset >= from) cut--;
    for (let i = cut; i < this.window.length; i++) this.window[i].cancelled = true;
    this.window.length = cut;
    this.next = offset ?? null;
    this.deps.onSettled?.();
  }

  /** No record starts any more; resolves when the running ones are finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private pump(): void {
    while (this.scheduled < this.deps.limit && this.waitingHead < this.waiting.length) {
      const entry = this.waiting[this.waitingHead++];
      if (entry.cancelled) continue;
      this.schedule(entry);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private schedule(entry: Entry<R>): void {
    this.scheduled++;
    const task: Promise<void> = (this.tails.get(entry.key) ?? Promise.resolve()).then(() => this.execute(entry));
    this.tails.set(entry.key, task);
    this.running.add(task);
    void task.finally(() => {
      this.running.delete(task);
      if (this.tails.get(entry.key) === task) this.tails.delete(entry.key);
      this.scheduled--;
      this.pump();
    });
  }

  private async execute(entry: Entry<R>): Promise<void> {
    if (entry.cancelled || this.stopped) return;
    let result: RunResult;
    try {
      result = await this.deps.run(entry.record);
    } catch {
      result = 'redeliver';
    }
    if (entry.cancelled) return;
    if (result === 'done') {
      entry.done = true;
      this.advance();
    } else if (result === 'redeliver') {
      this.cancelFrom(entry.offset);
      this.deps.onFailed(entry.record);
    }
    // 'abort': shutting down; the record stays unfinished and is redelivered to the next owner
    this.deps.onSettled?.();
  }

  private advance(): void {
    let last: Entry<R> | undefined;
    while (this.head < this.window.length && this.window[this.head].done) last = this.window[this.head++];
    if (this.head > 1024 && this.head * 2 > this.window.length) {
      this.window.splice(0, this.head);
      this.head = 0;
    }
    if (last) this.deps.onHandled(last.record);
  }
}
