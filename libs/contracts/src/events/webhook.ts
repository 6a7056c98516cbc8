import { IsIn, IsInt, IsNumber, IsString, Length, Max, Min } from 'class-validator';
import { IsHttpUrl, IsId, IsName, IsRfc3339, Optional } from '../validation';

export const WEBHOOK_DELIVERY_STATUSES = ['delivered', 'retrying', 'gave_up'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/**
 * One attempt to deliver a session's outcome to its webhookUrl (Standard Webhooks); subject =
 * tenantId. `webhookId` is the `webhook-id` header, the same on every attempt of one delivery.
 */
export class WebhookDeliveryAttemptedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsName() readonly webhookId: string;
  /** The event type delivered, e.g. agentplane.session.completed. */
  @IsName() readonly eventType: string;
  @IsHttpUrl() readonly url: string;
  @IsInt() @Min(1) readonly attempt: number;
  /** delivered (2xx), retrying (another attempt is scheduled), gave_up (no attempts left). */
  @IsIn(WEBHOOK_DELIVERY_STATUSES) readonly status: WebhookDeliveryStatus;
  /** The receiver's HTTP status, when it answered (3xx counts as a failure). */
  @Optional() @IsInt() @Min(100) @Max(599) readonly httpStatus?: number;
  /** Why the attempt failed (timeout, refused by the SSRF rules, no secret, HTTP status). */
  @Optional() @IsString() @Length(1, 2000) readonly error?: string;
  @IsNumber() @Min(0) readonly latencyMs: number;
  /** When the next attempt is due, for status retrying. */
  @Optional() @IsRfc3339() readonly nextAttemptAt?: string;
}
