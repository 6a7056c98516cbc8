import { BaseRpcContext } from '@nestjs/microservices';
import type { MessageHeaders } from './types';

type KafkaEventContextArgs = [
  topic: string,
  partition: number,
  offset: string,
  key: Buffer | null,
  headers: MessageHeaders,
  timestamp: string,
];

/** Second argument of every @EventPattern handler (`@Ctx() ctx: KafkaEventContext`). */
export class KafkaEventContext extends BaseRpcContext<KafkaEventContextArgs> {
  getTopic(): string {
    return this.args[0];
  }
  getPartition(): number {
    return this.args[1];
  }
  /** Offset as a decimal string (int64). */
  getOffset(): string {
    return this.args[2];
  }
  getKey(): Buffer | null {
    return this.args[3];
  }
  getHeaders(): MessageHeaders {
    return this.args[4];
  }
  /** Record timestamp, milliseconds since the epoch as a string (Kafka's CreateTime). */
  getTimestamp(): string {
    return this.args[5];
  }
}
