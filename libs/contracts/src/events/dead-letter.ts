import { Type } from 'class-transformer';
import { IsInt, IsString, Length, Matches, Min, ValidateIf, ValidateNested } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { IsBase64HeaderRecord, IsName, IsRfc3339, Optional } from '../validation';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Present when a handler threw, rather than decode refusing the bytes. */
export class DeadLetterError {
  @IsName(256) readonly name: string;
  @Optional() @IsName(256) readonly code?: string;
  @IsString() @Length(0, 8000) readonly message: string;
}

// `key` and `value` are required but nullable; ValidateIf makes the generator drop them from `required`.
@JSONSchema((schema) => ({ ...schema, required: [...((schema as { required?: string[] }).required ?? []), 'key', 'value'] }))
/**
 * What could not be accepted, with the original bytes (base64) so it can be inspected and
 * replayed by hand. subject = "<sourceTopic>/<partition>/<offset>"; key = the original key.
 */
export class MessageDeadLetteredData {
  @IsName(249) readonly sourceTopic: string;
  @IsInt() @Min(0) readonly partition: number;
  /** Kafka offsets are int64: kept as a decimal string. */
  @Matches(/^(0|[1-9][0-9]{0,18})$/, { message: '$property must be a Kafka offset as a decimal string' })
  readonly offset: string;
  /** base64 of the key bytes, or null when the message had no key. */
  @ValidateIf((_o: unknown, v: unknown) => v !== null)
  @IsString()
  @Matches(BASE64, { message: '$property must be base64 or null' })
  @JSONSchema({ type: ['string', 'null'] })
  readonly key: string | null;
  /** base64 of the value bytes, or null for a tombstone. */
  @ValidateIf((_o: unknown, v: unknown) => v !== null)
  @IsString()
  @Matches(BASE64, { message: '$property must be base64 or null' })
  @JSONSchema({ type: ['string', 'null'] })
  readonly value: string | null;
  /** header name → base64 of its bytes (an array when the header was repeated). */
  @IsBase64HeaderRecord(256) readonly headers: Readonly<Record<string, string | readonly string[]>>;
  @IsString() @Length(1, 4000) readonly reason: string;
  @Optional() @ValidateNested() @Type(() => DeadLetterError) readonly error?: DeadLetterError;
  /** Consumer group (so: which service) that refused it. */
  @IsName(255) readonly consumerGroup: string;
  @Optional() @IsRfc3339() readonly deadLetteredAt?: string;
}
