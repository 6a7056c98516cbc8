/**
 * @agentplane/contracts — the one declaration of every event agentplane puts on Kafka, and the
 * single decode edge. See docs/events.md.
 */
import 'reflect-metadata';

export * from './uuid';
export * from './decimal';
export * from './envelope';
export * from './events/requests';
export * from './events/session';
export * from './events/planner';
export * from './events/tool';
export * from './events/control';
export * from './events/dead-letter';
export * from './events/webhook';
export * from './registry';
export * from './make-event';
export * from './codec';
export * from './samples';
export { contractDefinitions, eventSchema, allEventSchemas, type JsonSchema } from './json-schema';
export {
  ID_PATTERN,
  HTTP_URL_PATTERN,
  RFC3339_PATTERN,
} from './validation';
