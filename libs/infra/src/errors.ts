/** A failure the user can act on: the CLI prints the message alone, without a stack. */
export class InfraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InfraError';
  }
}

export const DOCKER_ALTERNATIVE =
  'Alternatively run Kafka and Postgres with docker compose (`docker compose up -d kafka postgres`) ' +
  'and point agentplane at them with KAFKA_BROKERS and DATABASE_URL.';
