import { RpcException } from '@nestjs/microservices';

/**
 * The one errors module of agentplane. Every error says whether retrying the same work can
 * succeed (`retriable`) and carries a stable `code` for logs, metrics and dead letters.
 *
 * It extends Nest's RpcException on purpose: Nest's RPC exception layer swallows any other
 * error thrown by an @EventPattern handler and replaces it with "Internal server error"; an
 * RpcException whose getError() returns itself reaches the transport intact, so the transport
 * can tell retriable from non-retriable without every service registering a filter.
 */
export class AgentplaneError extends RpcException {
  readonly code: string;
  readonly retriable: boolean;
  override readonly cause?: unknown;

  constructor(message: string, opts: { code?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message);
    this.name = new.target.name;
    this.message = message;
    this.code = opts.code ?? 'AGENTPLANE_ERROR';
    this.retriable = opts.retriable ?? false;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }

  override getError(): object {
    return this;
  }

  toJSON(): { name: string; code: string; message: string; retriable: boolean } {
    return { name: this.name, code: this.code, message: this.message, retriable: this.retriable };
  }
}

/** Bytes that are not a valid event (bad JSON, unknown type, failed schema). Never retriable. */
export class DecodeError extends AgentplaneError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'DECODE_FAILED', retriable: false, cause: opts.cause });
  }
}

/** A handler refused the event for good (bad state, invariant broken): dead-letter it. */
export class HandlerError extends AgentplaneError {
  constructor(message: string, opts: { code?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, { code: opts.code ?? 'HANDLER_FAILED', retriable: opts.retriable ?? false, cause: opts.cause });
  }
}

/** Something outside was briefly unavailable (DB, broker, tool endpoint): retry the same event. */
export class TransientError extends AgentplaneError {
  constructor(message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, { code: opts.code ?? 'TRANSIENT', retriable: true, cause: opts.cause });
  }
}

/** Wiring mistakes found at start-up (e.g. a request/reply pattern on the Kafka transport). */
export class ConfigurationError extends AgentplaneError {
  constructor(message: string) {
    super(message, { code: 'CONFIGURATION', retriable: false });
  }
}

// Node socket errors that go away by themselves.
const RETRIABLE_SYSCALL_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EOPENBREAKER', 'ETIMEOUT',
]);
// kafkajs errors that only say the broker could not be reached (yet): always worth another try.
const KAFKAJS_UNAVAILABLE = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound']);
// PostgreSQL SQLSTATEs worth retrying: serialization/deadlock, too many connections, shutdown.
const RETRIABLE_SQLSTATES = new Set(['40001', '40P01', '53300', '55P03', '57P01', '57P02', '57P03']);

/**
 * True when retrying the same operation may succeed. Recognises AgentplaneError, kafkajs errors
 * (their own `retriable` flag), Node socket errors, PostgreSQL connection/serialization failures
 * and timeouts. Anything unknown is not retriable: better one dead letter than a stuck partition.
 */
export function isRetriable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  if (err instanceof AgentplaneError) return err.retriable;
  const e = err as { name?: unknown; retriable?: unknown; code?: unknown; cause?: unknown };
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) {
    // kafkajs gave up its own retries (e.g. the broker restarting for longer than the producer's
    // retry budget): whether the work can succeed later depends on what it gave up on. Treating
    // this as final dead-lettered admitted tool calls during a broker restart.
    if (e.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause !== undefined && e.cause !== err) return isRetriable(e.cause);
    // kafkajs' retrier also wraps what a nested retrier gave up on in KafkaJSNonRetriableError
    // (seen: "Connection error: connect ECONNREFUSED" while the broker restarts). The wrapper
    // says nothing about the work; its cause does. Treating it as final dead-lettered events
    // during a broker restart.
    if (e.name === 'KafkaJSNonRetriableError' && e.cause !== undefined && e.cause !== err) return isRetriable(e.cause);
    if (KAFKAJS_UNAVAILABLE.has(e.name)) return true;
    // KafkaJSError defaults to retriable=true; KafkaJSNonRetriableError and protocol errors set it.
    return e.retriable === true;
  }
  if (typeof e.retriable === 'boolean') return e.retriable;
  if (e.name === 'TimeoutError') return true;
  if (typeof e.code === 'string') {
    if (RETRIABLE_SYSCALL_CODES.has(e.code)) return true;
    if (RETRIABLE_SQLSTATES.has(e.code) || /^08/.test(e.code)) return true;
  }
  if (e.cause !== undefined && e.cause !== err) return isRetriable(e.cause);
  return false;
}

/** Turns whatever was thrown (or emitted by a failed Observable) into an Error. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
    // Nest's RPC exception layer emits plain `{ status: 'error', message }` objects.
    return new HandlerError((value as { message: string }).message, { cause: value });
  }
  return new HandlerError(typeof value === 'string' ? value : `non-error thrown: ${safeString(value)}`);
}

/** A short, serialisable description of an error for dead letters and logs. */
export function describeError(err: unknown): { name: string; code?: string; message: string; retriable: boolean } {
  const e = toError(err);
  const code = (e as { code?: unknown }).code;
  return {
    name: e.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    message: e.message,
    retriable: isRetriable(err),
  };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
