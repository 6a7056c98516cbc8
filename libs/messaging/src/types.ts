/** The least an event must carry for the messaging layer: routing (`type`), identity, key. */
export interface MinimalEvent {
  id: string;
  type: string;
  subject?: string;
  /** W3C trace context (CloudEvents distributed-tracing extension), copied into a header. */
  traceparent?: string;
  tracestate?: string;
}

/** Header values as kafkajs hands them over (arrays are flattened to their first value). */
export type MessageHeaders = Record<string, Buffer | string | undefined>;

export type DecodeResult<E> = { ok: true; event: E } | { ok: false; reason: string };

/**
 * Turns raw record bytes into a typed event or a dead-letter reason. Injected (kafkajs style)
 * so this library does not depend on @agentplane/contracts: pass contracts' `decode`.
 */
export type Decoder<E> = (value: Buffer | null, headers: MessageHeaders) => DecodeResult<E>;

/** Serialises an event to record bytes; default is JSON (CloudEvents structured mode). */
export type Encoder<E> = (event: E) => Buffer;
