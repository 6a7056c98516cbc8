// @agentplane/messaging — the only code in agentplane that talks to kafkajs.
export type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
export * from './types';
export * from './errors';
export * from './kafka';
export { applyKafkajsFixes } from './kafkajs-fix';
export * from './producer';
export * from './context';
export * from './dead-letter';
export * from './exception-filter';
export * from './transport';
export { uuidv7 } from './uuid';
