// The project's Kafka topics: names, partition counts and retention, declared once.
// Topics are created by `agentplane infra up` (never auto-created by the broker).

export const TOPIC_KINDS = ['session-requests', 'session-events', 'control-events', 'dead-letters'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export const DEFAULT_TOPIC_PREFIX = 'agentplane';

export interface TopicSpec {
  kind: TopicKind;
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  /** Topic-level configs passed to CreateTopics. */
  configs: Record<string, string>;
}

export interface TopicSpecOptions {
  /** Partitions of the session topics (requests and events); keyed by session id. */
  sessionPartitions?: number;
  /** Partitions of control-events and dead-letters. */
  auxPartitions?: number;
  /** Single local broker by default. */
  replicationFactor?: number;
}

const SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000;

export function topicName(prefix: string, kind: TopicKind): string {
  return `${prefix}.${kind}`;
}

export function topicSpecs(prefix: string = DEFAULT_TOPIC_PREFIX, opts: TopicSpecOptions = {}): TopicSpec[] {
  const session = opts.sessionPartitions ?? 12;
  const aux = opts.auxPartitions ?? 3;
  const rf = opts.replicationFactor ?? 1;
  // The event log is the source of truth (replay, audit, projections): keep it forever.
  const forever = { 'retention.ms': '-1', 'retention.bytes': '-1' };
  const spec = (kind: TopicKind, numPartitions: number, configs: Record<string, string>): TopicSpec => ({
    kind,
    topic: topicName(prefix, kind),
    numPartitions,
    replicationFactor: rf,
    configs,
  });
  return [
    // Requests are commands; once turned into events they are only needed for a while.
    spec('session-requests', session, { 'retention.ms': String(SEVEN_DAYS_MS) }),
    spec('session-events', session, forever),
    spec('control-events', aux, forever),
    spec('dead-letters', aux, forever),
  ];
}
