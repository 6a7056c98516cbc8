import { EventEmitter } from 'node:events';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { PartitionAssigners, type Consumer, type EachBatchPayload, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';
import { isObservable, lastValueFrom } from 'rxjs';
import { coPartitionedAssigner } from './co-partitioned.assigner';
import { KafkaEventContext } from './context';
import { Lane } from './lane';
import { buildDeadLetterEvent } from './dead-letter';
import { ConfigurationError, describeError, isRetriable, toError } from './errors';
import { createKafka, type KafkaClientOptions } from './kafka';
import { EventProducer } from './producer';
import type { Decoder, MessageHeaders, MinimalEvent } from './types';

/** What happened to one record; `retrying` is reported once per failed in-place attempt. */
export type MessageOutcome = 'handled' | 'ignored' | 'dead-lettered' | 'retrying' | 'redelivery-scheduled';

export interface MessageInfo {
  topic: string;
  partition: number;
  offset: string;
  /** Event type when decoding succeeded. */
  type?: string;
  /** Now minus the record's timestamp (produce → this outcome), ms. */
  endToEndMs: number;
}

export interface RetryOptions {
  /** Attempts in place (including the first) before pausing the partition. Default 5. */
  inPlaceAttempts?: number;
  /** First in-place backoff; doubles each attempt up to maxBackoffMs. Default 100 ms. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Pause before redelivering after in-place attempts ran out; doubles per round, capped. Default 2 s. */
  redeliveryBackoffMs?: number;
  maxRedeliveryBackoffMs?: number;
}

export interface KafkaEventTransportOptions<E extends MinimalEvent> {
  kafka: KafkaClientOptions | Kafka;
  /** Consumer group id, used as is (Nest's own Kafka server appends "-server"; we don't). */
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  decode: Decoder<E>;
  deadLetterTopic: string;
  /** Shared producer for dead letters; one is created (and closed) by the transport if absent. */
  producer?: EventProducer<any>;
  /** Batches kafkajs hands over at once (handing over is quick: lanes do the work). Default 12. */
  partitionsConsumedConcurrently?: number;
  /**
   * Order kept within a partition: 'partition' (default) handles one record at a time; 'key'
   * keeps the order of records with the same key (a session) and runs different keys at once;
   * 'none' runs any records at once (independent work such as tool calls). Offsets are still
   * committed in order, so a crash redelivers from the oldest unfinished record.
   */
  ordering?: 'partition' | 'key' | 'none';
  /**
   * How the group shares partitions: 'round-robin' (kafkajs' default) or 'co-partitioned'
   * (partition p of every topic to one member, so a key's records on several topics with the
   * same partition count reach the same member).
   */
  assignment?: 'round-robin' | 'co-partitioned';
  /** Records in flight per partition when ordering is 'key' or 'none'. Default 32. */
  maxInFlightPerPartition?: number;
  /**
   * Records fetched and not yet finished per partition before the partition is paused (resumed
   * at half). Fetching runs ahead of handling up to this; it bounds memory. Default 1000.
   */
  maxBufferedPerPartition?: number;
  /**
   * Broker long-poll bound when there is no data. Default 500 ms (kafkajs: 5000). The broker
   * answers as soon as a record arrives (minBytes 1), so this does not delay records (W1 gave
   * the same hop latency at 20, 500 and 2000 ms); it only sets how often an idle consumer asks
   * again, which at 20 ms cost an idle stack a fifth of a core. A resumed partition is fetched
   * when the poll in flight returns, so at most this late.
   */
  maxWaitTimeInMs?: number;
  minBytes?: number;
  maxBytesPerPartition?: number;
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  /** A decoded event no handler matches: skip it (default) or dead-letter it. */
  onUnmatched?: 'ignore' | 'dead-letter';
  retry?: RetryOptions;
  /**
   * How often handled offsets are committed, off the fetch path. Default 1000 ms. kafkajs'
   * autoCommit commits after every batch and the next fetch waits for it (an OffsetCommit costs
   * several ms: the group coordinator lingers 5 ms by default), which dominated hop latency.
   * Shutdown and rebalance flush at once, so this only bounds redelivery after a crash.
   */
  commitIntervalMs?: number;
  /** Metrics hook: `latencyMs` = time spent on the record in this process. */
  onMessage?: (latencyMs: number, topic: string, outcome: MessageOutcome, info: MessageInfo) => void;
  /** CloudEvents `source` of dead letters. Default `agentplane/<groupId>`. */
  source?: string;
  /** No poll for this long while running → not alive. Default 60 s. */
  stallTimeoutMs?: number;
}

export type TransportState = 'idle' | 'starting' | 'running' | 'rebalancing' | 'stopping' | 'stopped' | 'crashed';

export interface TransportHealth {
  state: TransportState;
  alive: boolean;
  /** Joined the group and got an assignment. */
  ready: boolean;
  groupId: string;
  memberId: string | null;
  assignment: Record<string, number[]>;
  lastPollAt: number | null;
  lastHandledAt: number | null;
  crashes: number;
  lastError: string | null;
  pausedForRedelivery: string[];
}

/** Events of `transport.on(...)`. */
export interface KafkaEventTransportEvents extends Record<string, Function> {
  'group.join': (info: { memberId: string; assignment: Record<string, number[]> }) => void;
  crash: (info: { error: Error; restart: boolean }) => void;
  'dead-letter': (info: { topic: string; partition: number; offset: string; reason: string }) => void;
  stop: () => void;
}

/** Nest status values published on `server.status`. */
export type KafkaTransportStatus = 'connecting' | 'connected' | 'disconnected' | 'crashed';

type Step = { kind: 'ok' } | { kind: 'failed'; error: unknown } | { kind: 'redeliver' } | { kind: 'abort' };

const WILDCARD = '*';

/**
 * Nest custom transport: `@EventPattern('<event type>')` controllers receive decoded, typed events
 * from Kafka. At-least-once: an offset is committed only once its record and every record before
 * it in the partition was handled or dead-lettered. Fetching runs ahead of handling (see Lane);
 * order within a partition is kept as `ordering` says, partitions run concurrently. No
 * request/reply: @MessagePattern is refused at registration.
 */
export class KafkaEventTransport<E extends MinimalEvent = MinimalEvent>
  extends Server<KafkaEventTransportEvents, KafkaTransportStatus>
  implements CustomTransportStrategy
{
  override transportId: symbol = Symbol.for('agentplane.kafka-event-transport');
  private readonly opts: KafkaEventTransportOptions<E>;
  private readonly kafka: Kafka;
  private readonly producer: EventProducer<any>;
  private readonly ownsProducer: boolean;
  private readonly emitter = new EventEmitter();
  private readonly retry: Required<RetryOptions>;
  private consumer: Consumer | null = null;
  private readonly stopSignal = new AbortController();
  private closing: Promise<void> | null = null;
  private readonly resumeTimers = new Map<string, NodeJS.Timeout>();
  private readonly redeliveryRounds = new Map<string, number>();
  private h: Omit<TransportHealth, 'alive' | 'pausedForRedelivery'>;
  /** Next offset to commit per `topic/partition` (handled offset + 1), and what was committed. */
  private readonly handled = new Map<string, { topic: string; partition: number; offset: string }>();
  private readonly committedOffsets = new Map<string, string>();
  private commitChain: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  /** One lane per `topic/partition` ever assigned, with its latest heartbeat and pause reasons. */
  private readonly lanes = new Map<string, Lane<KafkaMessage>>();
  /** Handler per event type (null: none), filled on first use; see handlerFor. */
  private readonly handlers = new Map<string, MessageHandler | null>();
  private readonly heartbeats = new Map<string, () => Promise<void>>();
  private readonly pauses = new Map<string, Set<'backlog' | 'redelivery'>>();
  /** Records buffered per partition before it is paused. */
  private readonly highWater: number;

  constructor(options: KafkaEventTransportOptions<E>) {
    super();
    if (!options.groupId) throw new ConfigurationError('KafkaEventTransport: groupId is required');
    if (!options.topics?.length) throw new ConfigurationError('KafkaEventTransport: at least one topic is required');
    if (!options.deadLetterTopic) throw new ConfigurationError('KafkaEventTransport: deadLetterTopic is required');
    if (typeof options.decode !== 'function') throw new ConfigurationError('KafkaEventTransport: decode is required');
    this.opts = options;
    this.kafka = createKafka(options.kafka);
    this.ownsProducer = !options.producer;
    this.producer = options.producer ?? new EventProducer(this.kafka);
    this.highWater = Math.max(1, options.maxBufferedPerPartition ?? 1000);
    this.retry = {
      inPlaceAttempts: options.retry?.inPlaceAttempts ?? 5,
      initialBackoffMs: options.retry?.initialBackoffMs ?? 100,
      maxBackoffMs: options.retry?.maxBackoffMs ?? 2000,
      redeliveryBackoffMs: options.retry?.redeliveryBackoffMs ?? 2000,
      maxRedeliveryBackoffMs: options.retry?.maxRedeliveryBackoffMs ?? 60000,
    };
    this.h = {
      state: 'idle', ready: false, groupId: options.groupId, memberId: null, assignment: {},
      lastPollAt: null, lastHandledAt: null, crashes: 0, lastError: null,
    };
    this.emitter.on('error', () => undefined); // never let a listener-less 'error' throw
  }

  // ---- Nest Server contract ------------------------------------------------------------

  /** Refuses request/reply handlers as soon as Nest registers them. */
  override addHandler(pattern: any, callback: MessageHandler, isEventHandler = false, extras: Record<string, any> = {}): void {
    if (!isEventHandler) {
      throw new ConfigurationError(
        `KafkaEventTransport does no request/reply over Kafka: @MessagePattern(${JSON.stringify(pattern)}) ` +
          'cannot be served. Use @EventPattern and publish a follow-up event instead.',
      );
    }
    super.addHandler(pattern, callback, isEventHandler, extras);
    this.handlers.clear();
  }

  async listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    try {
      for (const [pattern, handler] of this.messageHandlers) {
        if (!handler.isEventHandler) throw new ConfigurationError(`KafkaEventTransport: request/reply pattern ${pattern} is not supported`);
      }
      await this.start();
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Graceful stop: no new fetches, the in-flight record finishes, resolved offsets are committed. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  on<K extends keyof KafkaEventTransportEvents>(event: K, callback: KafkaEventTransportEvents[K]): this {
    this.emitter.on(event as string, callback as (...args: any[]) => void);
    return this;
  }

  /** The kafkajs Consumer (after listen). */
  unwrap<T = Consumer>(): T {
    if (!this.consumer) throw new Error('KafkaEventTransport: not listening yet; call listen() first');
    return this.consumer as T;
  }

  // ---- health ---------------------------------------------------------------------------

  isAlive(): boolean {
    const s = this.h.state;
    if (s === 'crashed' || s === 'stopped' || s === 'stopping') return false;
    if ((s === 'running' || s === 'rebalancing') && this.h.lastPollAt !== null) {
      return Date.now() - this.h.lastPollAt < (this.opts.stallTimeoutMs ?? 60000);
    }
    return true;
  }

  /** Snapshot for /health and metrics (named `health` because Nest's Server owns `status`). */
  health(): TransportHealth {
    return {
      ...this.h,
      assignment: { ...this.h.assignment },
      alive: this.isAlive(),
      pausedForRedelivery: [...this.resumeTimers.keys()],
    };
  }

  // ---- internals ------------------------------------------------------------------------

  private setState(state: TransportState): void {
    this.h.state = state;
    const nest: KafkaTransportStatus =
      state === 'running' ? 'connected' : state === 'crashed' ? 'crashed' : state === 'starting' || state === 'rebalancing' ? 'connecting' : 'disconnected';
    this._status$.next(nest);
  }

  private async start(): Promise<void> {
    if (this.consumer) return;
    const o = this.opts;
    this.setState('starting');
    const consumer = this.kafka.consumer({
      groupId: o.groupId,
      allowAutoTopicCreation: false,
      minBytes: o.minBytes ?? 1,
      maxWaitTimeInMs: o.maxWaitTimeInMs ?? 500,
      ...(o.maxBytesPerPartition ? { maxBytesPerPartition: o.maxBytesPerPartition } : {}),
      sessionTimeout: o.sessionTimeout ?? 30000,
      ...(o.rebalanceTimeout ? { rebalanceTimeout: o.rebalanceTimeout } : {}),
      heartbeatInterval: o.heartbeatInterval ?? 3000,
      ...(o.assignment === 'co-partitioned' ? { partitionAssigners: [coPartitionedAssigner, PartitionAssigners.roundRobin] } : {}),
    });
    this.consumer = consumer;
    const ev = consumer.events;
    consumer.on(ev.FETCH_START, () => {
      this.h.lastPollAt = Date.now();
    });
    consumer.on(ev.GROUP_JOIN, (e) => {
      this.h.memberId = e.payload.memberId;
      this.h.assignment = e.payload.memberAssignment;
      // A new generation starts from the group's committed offsets. Anything we handled before
      // and could not commit is forgotten: committed later it could move a partition back over
      // another member's progress (a frozen member that rejoins and gets the partition back),
      // leaving lag that never drains. Whoever owns the record now handles it again.
      for (const lane of this.lanes.values()) lane.cancelFrom();
      this.handled.clear();
      this.committedOffsets.clear();
      this.h.ready = true;
      this.setState('running');
      this.emitter.emit('group.join', { memberId: e.payload.memberId, assignment: e.payload.memberAssignment });
    });
    consumer.on(ev.REBALANCING, () => {
      this.h.ready = false;
      // Commit what we handled while we still own it (the coordinator accepts it during the rebalance).
      void this.commit((offsets) => consumer.commitOffsets(offsets));
      if (this.h.state === 'running') this.setState('rebalancing');
    });
    consumer.on(ev.CRASH, (e) => {
      const { error, restart } = e.payload;
      this.h.crashes++;
      this.h.lastError = error?.message ?? String(error);
      this.h.ready = false;
      // kafkajs restarts by itself after a retriable crash; a non-retriable one is final.
      if (!restart) this.setState('crashed');
      this.logger.error(`consumer ${o.groupId} crashed (${restart ? 'restarting' : 'not restarting'}): ${this.h.lastError}`);
      this.emitter.emit('crash', { error, restart });
    });
    consumer.on(ev.STOP, () => {
      this.h.ready = false;
      if (this.h.state !== 'crashed') this.setState(this.closing ? 'stopping' : 'stopped');
      this.emitter.emit('stop');
    });

    await Promise.all([consumer.connect(), this.producer.connect()]);
    await consumer.subscribe({ topics: o.topics, fromBeginning: o.fromBeginning ?? false });
    // run() resolves once the group is joined (or the first join crashed and is being retried).
    await consumer.run({
      autoCommit: false, // see commitIntervalMs: we commit off the fetch path
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? 12,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async shutdown(): Promise<void> {
    this.setState('stopping');
    this.stopping = true;
    this.stopSignal.abort();
    for (const t of this.resumeTimers.values()) clearTimeout(t);
    this.resumeTimers.clear();
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = null;
    try {
      const consumer = this.consumer;
      if (consumer) {
        // Records waiting in a lane do not start; running ones finish (a retry wait is cut short).
        await Promise.all([...this.lanes.values()].map((lane) => lane.stop()));
        // Everything handled, while the consumer still runs and owns its partitions.
        await this.commit((offsets) => consumer.commitOffsets(offsets));
        // kafkajs: stops the fetchers, leaves the group, disconnects.
        await consumer.disconnect();
      }
    } finally {
      if (this.ownsProducer) await this.producer.disconnect().catch(() => undefined);
      else await this.producer.flush();
      if (this.h.state !== 'crashed') this.setState('stopped');
      this.h.ready = false;
    }
  }

  /**
   * Hands the batch to its partition's lane and returns: kafkajs fetches the next batch only
   * when every batch of the last fetch returned, so awaiting the handlers here let one slow
   * record hold every partition. kafkajs' resolved offset only moves the fetch position; what is
   * committed is the lane's watermark (see markHandled).
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    if (this.stopping || !payload.isRunning() || payload.isStale() || messages.length === 0) return;
    const tp = `${topic}/${partition}`;
    const lane = this.laneFor(topic, partition, tp);
    this.heartbeats.set(tp, payload.heartbeat);
    lane.accept(messages);
    payload.resolveOffset(messages[messages.length - 1].offset);
    // Back-pressure: a partition whose records pile up is not fetched until they drain.
    if (lane.buffered >= this.highWater) this.pausePartition(topic, partition, 'backlog');
  }

  private laneFor(topic: string, partition: number, tp: string): Lane<KafkaMessage> {
    let lane = this.lanes.get(tp);
    if (lane) return lane;
    const ordering = this.opts.ordering ?? 'partition';
    const heartbeat = () => (this.heartbeats.get(tp)?.() ?? Promise.resolve()).catch(() => undefined);
    lane = new Lane<KafkaMessage>({
      limit: ordering === 'partition' ? 1 : (this.opts.maxInFlightPerPartition ?? 32),
      keyOf: (m, offset) => (ordering === 'partition' ? '' : ordering === 'key' && m.key ? m.key.toString('latin1') : `#${offset}`),
      run: (m) => this.processRecord(topic, partition, m, heartbeat),
      onHandled: (m) => this.markHandled(topic, partition, m),
      onFailed: (m) => this.scheduleRedelivery(topic, partition, m),
      onSettled: () => {
        if (lane!.buffered <= this.highWater >> 1) this.resumePartition(topic, partition, 'backlog');
      },
    });
    this.lanes.set(tp, lane);
    return lane;
  }

  private pausePartition(topic: string, partition: number, reason: 'backlog' | 'redelivery'): void {
    const tp = `${topic}/${partition}`;
    const reasons = this.pauses.get(tp) ?? new Set();
    // Every time, not only the first: pausing twice is harmless, a pause lost in a rejoin is not.
    this.consumer?.pause([{ topic, partitions: [partition] }]);
    reasons.add(reason);
    this.pauses.set(tp, reasons);
  }

  private resumePartition(topic: string, partition: number, reason: 'backlog' | 'redelivery'): void {
    const tp = `${topic}/${partition}`;
    const reasons = this.pauses.get(tp);
    if (!reasons?.delete(reason) || reasons.size > 0 || this.closing) return;
    this.pauses.delete(tp);
    this.consumer?.resume([{ topic, partitions: [partition] }]);
  }

  private markHandled(topic: string, partition: number, message: KafkaMessage): void {
    const tp = `${topic}/${partition}`;
    this.handled.set(tp, { topic, partition, offset: (BigInt(message.offset) + 1n).toString() });
    this.scheduleCommit();
    this.redeliveryRounds.delete(tp);
    this.h.lastHandledAt = Date.now();
  }

  /**
   * Retries ran out: the lane dropped this record and everything after it; fetch again from it
   * after a pause that doubles per round. Nothing is skipped, and nothing spins. Records after it
   * that already ran may run again, which idempotent handlers absorb.
   */
  private scheduleRedelivery(topic: string, partition: number, message: KafkaMessage): void {
    const tp = `${topic}/${partition}`;
    const rounds = (this.redeliveryRounds.get(tp) ?? 0) + 1;
    this.redeliveryRounds.set(tp, rounds);
    const delay = Math.min(this.retry.redeliveryBackoffMs * 2 ** (rounds - 1), this.retry.maxRedeliveryBackoffMs);
    this.pausePartition(topic, partition, 'redelivery');
    this.consumer!.seek({ topic, partition, offset: message.offset });
    const previous = this.resumeTimers.get(tp);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(() => {
      this.resumeTimers.delete(tp);
      this.resumePartition(topic, partition, 'redelivery');
    }, delay);
    timer.unref();
    this.resumeTimers.set(tp, timer);
    this.report(0, topic, 'redelivery-scheduled', { topic, partition, offset: message.offset, endToEndMs: ageOf(message) });
    this.logger.warn(`${tp}@${message.offset}: retries exhausted, redelivering in ${delay} ms`);
  }

  private scheduleCommit(): void {
    if (this.commitTimer || this.stopping || !this.consumer) return;
    const consumer = this.consumer;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      void this.commit((offsets) => consumer.commitOffsets(offsets));
    }, this.opts.commitIntervalMs ?? 1000);
    this.commitTimer.unref();
  }

  /**
   * Commits handled-but-uncommitted offsets through `send`. Commits are chained, and each one
   * takes its snapshot when its turn comes, so a later commit never carries an older offset.
   */
  private commit(send: (offsets: Array<{ topic: string; partition: number; offset: string }>) => Promise<unknown>): Promise<void> {
    this.commitChain = this.commitChain.then(async () => {
      const offsets = [...this.handled].filter(([tp, v]) => this.committedOffsets.get(tp) !== v.offset).map(([, v]) => ({ ...v }));
      if (offsets.length === 0) return;
      try {
        await send(offsets);
        for (const o of offsets) this.committedOffsets.set(`${o.topic}/${o.partition}`, o.offset);
      } catch (err) {
        // Not fatal: the next commit carries these offsets too; at worst they are redelivered.
        this.logger.warn(`offset commit failed (${toError(err).message}); will retry with the next one`);
        if (!this.stopping) this.scheduleCommit();
      }
    });
    return this.commitChain;
  }

  /**
   * The handler of an event type, looked up once per type: Nest's lookup tries JSON.parse on
   * every pattern (throwing for plain strings), 2-3 % of each service's CPU per record (W4 profile).
   * Handlers are all registered before listen(), so the answer never changes afterwards.
   */
  private handlerFor(type: string): MessageHandler | null {
    let h = this.handlers.get(type);
    if (h === undefined) {
      h = this.getHandlerByPattern(type) ?? this.messageHandlers.get(WILDCARD) ?? null;
      this.handlers.set(type, h);
    }
    return h;
  }

  /** 'done' = handled, ignored or dead-lettered; the offset may be resolved. */
  private async processRecord(
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<'done' | 'redeliver' | 'abort'> {
    const started = performance.now();
    const headers = flattenHeaders(message.headers);
    const info: MessageInfo = { topic, partition, offset: message.offset, endToEndMs: 0 };
    const finish = (outcome: MessageOutcome): 'done' => {
      info.endToEndMs = ageOf(message);
      this.report(performance.now() - started, topic, outcome, info);
      return 'done';
    };

    let decoded: ReturnType<Decoder<E>>;
    try {
      decoded = this.opts.decode(message.value, headers);
    } catch (err) {
      decoded = { ok: false, reason: `decoder threw: ${toError(err).message}` };
    }
    if (!decoded.ok) {
      const r = await this.deadLetter(topic, partition, message, decoded.reason, undefined, undefined, heartbeat);
      return r === 'done' ? finish('dead-lettered') : r;
    }
    const event = decoded.event;
    info.type = event.type;
    const handler = this.handlerFor(event.type);
    if (!handler) {
      if ((this.opts.onUnmatched ?? 'ignore') === 'ignore') return finish('ignored');
      const r = await this.deadLetter(topic, partition, message, `no handler for event type ${event.type} in group ${this.opts.groupId}`, undefined, event, heartbeat);
      return r === 'done' ? finish('dead-lettered') : r;
    }

    const ctx = new KafkaEventContext([topic, partition, message.offset, message.key ?? null, headers, message.timestamp]);
    // kafkajs heartbeats only when asked: a long handler (a slow tool call) must keep the
    // member alive itself, or the group evicts it and the record runs again elsewhere.
    const beat = setInterval(() => void heartbeat().catch(() => undefined), this.opts.heartbeatInterval ?? 3000);
    let step: Step;
    try {
      step = await this.withRetry(async () => {
        const result = await handler(event, ctx);
        // Nest hands back an Observable for chained handlers and for errors mapped by its filters.
        if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
      }, heartbeat, info, started);
    } finally {
      clearInterval(beat);
    }
    if (step.kind === 'ok') return finish('handled');
    if (step.kind === 'failed') {
      const err = describeError(step.error);
      this.logger.warn(`${topic}/${partition}@${message.offset} ${event.type}: handler failed (${err.message}); dead-lettering`);
      const r = await this.deadLetter(topic, partition, message, `handler failed: ${err.message}`, err, event, heartbeat);
      return r === 'done' ? finish('dead-lettered') : r;
    }
    return step.kind;
  }

  private async deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    reason: string,
    error: { name: string; code?: string; message: string } | undefined,
    event: E | undefined,
    heartbeat: () => Promise<void>,
  ): Promise<'done' | 'redeliver' | 'abort'> {
    const dl = buildDeadLetterEvent({
      topic, partition, offset: message.offset, key: message.key ?? null, value: message.value,
      headers: message.headers, reason, ...(error ? { error: { name: error.name, ...(error.code ? { code: error.code } : {}), message: error.message } } : {}),
      consumerGroup: this.opts.groupId, source: this.opts.source ?? `agentplane/${this.opts.groupId}`,
      ...(event ? { event } : {}),
    });
    const info: MessageInfo = { topic, partition, offset: message.offset, endToEndMs: 0 };
    // Keep the original key so one session's dead letters stay together and in order.
    const key = message.key ?? dl.subject;
    const step = await this.withRetry(() => this.producer.publish(this.opts.deadLetterTopic, dl, { key }), heartbeat, info, performance.now());
    if (step.kind === 'ok') {
      this.emitter.emit('dead-letter', { topic, partition, offset: message.offset, reason });
      return 'done';
    }
    if (step.kind === 'failed') {
      // A dead letter that cannot be written must not lose the record: treat it like a retriable failure.
      this.logger.error(`dead-letter publish to ${this.opts.deadLetterTopic} failed: ${toError(step.error).message}`);
      return 'redeliver';
    }
    return step.kind;
  }

  private async withRetry(op: () => Promise<void>, heartbeat: () => Promise<void>, info: MessageInfo, started: number): Promise<Step> {
    for (let attempt = 1; ; attempt++) {
      try {
        await op();
        return { kind: 'ok' };
      } catch (raw) {
        if (!isRetriable(raw)) return { kind: 'failed', error: raw };
        info.endToEndMs = 0;
        this.report(performance.now() - started, info.topic, 'retrying', info);
        if (attempt >= this.retry.inPlaceAttempts) return { kind: 'redeliver' };
        const delay = Math.min(this.retry.initialBackoffMs * 2 ** (attempt - 1), this.retry.maxBackoffMs);
        try {
          await sleepTimer(delay, undefined, { signal: this.stopSignal.signal });
        } catch {
          return { kind: 'abort' };
        }
        await heartbeat();
      }
    }
  }

  private report(latencyMs: number, topic: string, outcome: MessageOutcome, info: MessageInfo): void {
    if (!this.opts.onMessage) return;
    try {
      this.opts.onMessage(latencyMs, topic, outcome, { ...info });
    } catch {
      // a metrics hook must never break consumption
    }
  }
}

function ageOf(message: KafkaMessage): number {
  const ts = Number(message.timestamp);
  return Number.isFinite(ts) && ts > 0 ? Date.now() - ts : 0;
}


/** kafkajs may give repeated headers as arrays; decoders see the first value. */
export function flattenHeaders(headers: IHeaders | undefined): MessageHeaders {
  const out: MessageHeaders = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}
