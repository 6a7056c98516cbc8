/** Injection token of the service's frozen `ServiceConfig`. */
export const SERVICE_CONFIG = Symbol.for('agentplane.ServiceConfig');
/** Injection token of the kafkajs client shared by producer and consumer. */
export const KAFKA_CLIENT = Symbol.for('agentplane.KafkaClient');
