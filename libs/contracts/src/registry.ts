import { CloudEvent } from './envelope';
import { SessionCancelRequestedData, SessionRequestedData } from './events/requests';
import {
  SessionCancelledData,
  SessionCompletedData,
  SessionFailedData,
  SessionRejectedData,
  SessionStartedData,
} from './events/session';
import { PlannerFallbackUsedData, PlannerStepCompletedData, PlannerStepFailedData } from './events/planner';
import {
  ToolCallAdmittedData,
  ToolCallDeferredData,
  ToolCallFailedData,
  ToolCallRejectedData,
  ToolCallRequestedData,
  ToolCallSucceededData,
} from './events/tool';
import {
  BudgetGuardrailClearedData,
  BudgetGuardrailTrippedData,
  PlannerModeChangedData,
  ToolCircuitChangedData,
} from './events/control';
import { MessageDeadLetteredData } from './events/dead-letter';
import { WebhookDeliveryAttemptedData } from './events/webhook';

export const TOPIC_KINDS = ['session-requests', 'session-events', 'control-events', 'dead-letters'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export const DEFAULT_TOPIC_PREFIX = 'agentplane';
/** `agentplane.session-events` etc.; the prefix is configurable per deployment. */
export function topicName(kind: TopicKind, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}.${kind}`;
}

/** What `subject` (and the Kafka key) holds for a type. */
export type SubjectKind = 'session' | 'tenant' | 'tool' | 'message';

type Decl = { readonly dataClass: new () => object; readonly topic: TopicKind; readonly subject: SubjectKind; readonly description: string };

/** The one registry of every event type: data class, topic, subject. */
export const EVENT_TYPES = {
  'agentplane.session.requested': { dataClass: SessionRequestedData, topic: 'session-requests', subject: 'session', description: 'A producer asks for an agent session.' },
  'agentplane.session.cancel-requested': { dataClass: SessionCancelRequestedData, topic: 'session-requests', subject: 'session', description: 'A producer asks to cancel a session.' },
  'agentplane.session.started': { dataClass: SessionStartedData, topic: 'session-events', subject: 'session', description: 'The planner accepted a session request.' },
  'agentplane.session.rejected': { dataClass: SessionRejectedData, topic: 'session-events', subject: 'session', description: 'The planner refused a session request; errors say why.' },
  'agentplane.session.completed': { dataClass: SessionCompletedData, topic: 'session-events', subject: 'session', description: 'The session produced its answer.' },
  'agentplane.session.failed': { dataClass: SessionFailedData, topic: 'session-events', subject: 'session', description: 'The session ended without an answer.' },
  'agentplane.session.cancelled': { dataClass: SessionCancelledData, topic: 'session-events', subject: 'session', description: 'The session was cancelled on request.' },
  'agentplane.planner.step.completed': { dataClass: PlannerStepCompletedData, topic: 'session-events', subject: 'session', description: 'A planner step returned tool calls or a final answer.' },
  'agentplane.planner.step.failed': { dataClass: PlannerStepFailedData, topic: 'session-events', subject: 'session', description: 'A planner step produced no usable output.' },
  'agentplane.planner.fallback.used': { dataClass: PlannerFallbackUsedData, topic: 'session-events', subject: 'session', description: 'A step was planned by the deterministic fallback.' },
  'agentplane.tool.call.requested': { dataClass: ToolCallRequestedData, topic: 'session-events', subject: 'session', description: 'The planner asks for a tool call.' },
  'agentplane.tool.call.admitted': { dataClass: ToolCallAdmittedData, topic: 'session-events', subject: 'session', description: 'The rate limiter let a tool call through.' },
  'agentplane.tool.call.deferred': { dataClass: ToolCallDeferredData, topic: 'session-events', subject: 'session', description: 'The rate limiter holds a tool call back for now.' },
  'agentplane.tool.call.rejected': { dataClass: ToolCallRejectedData, topic: 'session-events', subject: 'session', description: 'The rate limiter refused a tool call.' },
  'agentplane.tool.call.succeeded': { dataClass: ToolCallSucceededData, topic: 'session-events', subject: 'session', description: 'The executor got a valid result from the tool.' },
  'agentplane.tool.call.failed': { dataClass: ToolCallFailedData, topic: 'session-events', subject: 'session', description: 'The executor gave up on a tool call.' },
  'agentplane.budget.guardrail.tripped': { dataClass: BudgetGuardrailTrippedData, topic: 'control-events', subject: 'tenant', description: "A tenant's monthly spend passed its guardrail; non-essential tools pause." },
  'agentplane.budget.guardrail.cleared': { dataClass: BudgetGuardrailClearedData, topic: 'control-events', subject: 'tenant', description: "A tenant's spend is back under its guardrail." },
  'agentplane.planner.mode.changed': { dataClass: PlannerModeChangedData, topic: 'control-events', subject: 'tenant', description: "A tenant's planner switched between normal and fallback." },
  'agentplane.tool.circuit.changed': { dataClass: ToolCircuitChangedData, topic: 'control-events', subject: 'tool', description: "A tool's circuit breaker changed state." },
  'agentplane.webhook.delivery.attempted': { dataClass: WebhookDeliveryAttemptedData, topic: 'control-events', subject: 'tenant', description: "One attempt to deliver a session's outcome to its webhook (signed, retried with backoff)." },
  'agentplane.message.dead-lettered': { dataClass: MessageDeadLetteredData, topic: 'dead-letters', subject: 'message', description: 'A message could not be accepted; the original bytes and the reason.' },
} as const satisfies Record<string, Decl>;

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as readonly EventType[];

/** The data type of an event type, e.g. EventData<'agentplane.session.requested'>. */
export type EventData<T extends EventType> = InstanceType<(typeof EVENT_TYPES)[T]['dataClass']>;

/** A typed event; a union when T is a union, so `switch (e.type)` narrows `e.data`. */
export type AgentplaneEvent<T extends EventType = EventType> = T extends EventType ? CloudEvent<T, EventData<T>> : never;

export type EventTypeOfTopic<K extends TopicKind> = {
  [T in EventType]: (typeof EVENT_TYPES)[T]['topic'] extends K ? T : never;
}[EventType];

export type SessionRequestType = EventTypeOfTopic<'session-requests'>;
export type SessionEventType = EventTypeOfTopic<'session-events'>;
export type ControlEventType = EventTypeOfTopic<'control-events'>;

export type SessionRequest = AgentplaneEvent<SessionRequestType>;
export type SessionEvent = AgentplaneEvent<SessionEventType>;
export type ControlEvent = AgentplaneEvent<ControlEventType>;
export type DeadLetterEvent = AgentplaneEvent<'agentplane.message.dead-lettered'>;

// Named aliases, for signatures.
export type SessionRequested = AgentplaneEvent<'agentplane.session.requested'>;
export type SessionCancelRequested = AgentplaneEvent<'agentplane.session.cancel-requested'>;
export type SessionStarted = AgentplaneEvent<'agentplane.session.started'>;
export type SessionRejected = AgentplaneEvent<'agentplane.session.rejected'>;
export type SessionCompleted = AgentplaneEvent<'agentplane.session.completed'>;
export type SessionFailed = AgentplaneEvent<'agentplane.session.failed'>;
export type SessionCancelled = AgentplaneEvent<'agentplane.session.cancelled'>;
export type PlannerStepCompleted = AgentplaneEvent<'agentplane.planner.step.completed'>;
export type PlannerStepFailed = AgentplaneEvent<'agentplane.planner.step.failed'>;
export type PlannerFallbackUsed = AgentplaneEvent<'agentplane.planner.fallback.used'>;
export type ToolCallRequested = AgentplaneEvent<'agentplane.tool.call.requested'>;
export type ToolCallAdmitted = AgentplaneEvent<'agentplane.tool.call.admitted'>;
export type ToolCallDeferred = AgentplaneEvent<'agentplane.tool.call.deferred'>;
export type ToolCallRejected = AgentplaneEvent<'agentplane.tool.call.rejected'>;
export type ToolCallSucceeded = AgentplaneEvent<'agentplane.tool.call.succeeded'>;
export type ToolCallFailed = AgentplaneEvent<'agentplane.tool.call.failed'>;
export type BudgetGuardrailTripped = AgentplaneEvent<'agentplane.budget.guardrail.tripped'>;
export type BudgetGuardrailCleared = AgentplaneEvent<'agentplane.budget.guardrail.cleared'>;
export type PlannerModeChanged = AgentplaneEvent<'agentplane.planner.mode.changed'>;
export type ToolCircuitChanged = AgentplaneEvent<'agentplane.tool.circuit.changed'>;
export type WebhookDeliveryAttempted = AgentplaneEvent<'agentplane.webhook.delivery.attempted'>;
export type MessageDeadLettered = DeadLetterEvent;

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(EVENT_TYPES, type);
}

export function topicKindOf(type: EventType): TopicKind {
  return EVENT_TYPES[type].topic;
}

/**
 * The subject an event of this type must carry: the session id, the tenant id, the tool, or
 * "<topic>/<partition>/<offset>" for dead letters. Also the Kafka key.
 */
export function subjectFor<T extends EventType>(type: T, data: EventData<T>): string {
  const d = data as unknown as Record<string, unknown>;
  switch (EVENT_TYPES[type].subject as SubjectKind) {
    case 'session':
      return d.sessionId as string;
    case 'tenant':
      return d.tenantId as string;
    case 'tool':
      return d.tool as string;
    case 'message':
      return `${d.sourceTopic}/${d.partition}/${d.offset}`;
  }
}

/** Classes referenced from data classes (nested objects), for schema generation. */
export { WorkflowCallSpec, WorkflowStepSpec, WorkflowSpec } from './events/requests';
export { PlannedToolCall, PlannerOutcomeDecl } from './events/planner';
