import 'reflect-metadata';
import {
  IsObject,
  Length,
  Matches,
  ValidateIf,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  Validate,
  ValidationOptions,
  IsString,
} from 'class-validator';
import { DECIMAL_PATTERN } from './decimal';

/*
 * Decorators shared by the event declarations. Each one is a class-validator rule AND maps to a
 * JSON Schema fragment (see SCHEMA_CONVERTERS) so the generated schemas and the fast Ajv path
 * agree with the classes, which stay the only declaration.
 */

function compose(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => {
    for (const d of decorators) d(target, key);
  };
}

/**
 * Optional = may be absent. Unlike class-validator's @IsOptional it does NOT accept null:
 * the JSON Schema says "string", so null must fail in both validators alike.
 */
export function Optional(): PropertyDecorator {
  return ValidateIf((_o: unknown, v: unknown) => v !== undefined);
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Tenant and session ids: they become Kafka keys, metric labels and URL segments. */
export function IsId(): PropertyDecorator {
  return compose(
    IsString(),
    Matches(ID_PATTERN, { message: '$property must be 1-128 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit' }),
  );
}

/** Short free-form names: tool names, call ids, providers, models. */
export function IsName(max = 128): PropertyDecorator {
  return compose(IsString(), Length(1, max));
}

export function IsDecimalString(): PropertyDecorator {
  return Matches(DECIMAL_PATTERN, { message: '$property must be a non-negative decimal string such as "0.25" (at most 9 fractional digits)' });
}

/** A plain JSON object (not an array, not null): tool arguments. */
export function IsJsonObject(): PropertyDecorator {
  return IsObject({ message: '$property must be a JSON object' });
}

@ValidatorConstraint({ name: 'isPresent', async: false })
export class IsPresentConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return value !== undefined;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} is missing`;
  }
}

/** Any JSON value, null included, but the key must be there: tool results. */
export function IsPresent(options?: ValidationOptions): PropertyDecorator {
  return Validate(IsPresentConstraint, options);
}

@ValidatorConstraint({ name: 'isStringRecord', async: false })
export class IsStringRecordConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const max = (args.constraints?.[0] as number | undefined) ?? Infinity;
    const entries = Object.values(value as Record<string, unknown>);
    return entries.length <= max && entries.every((v) => typeof v === 'string');
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an object of at most ${args.constraints?.[0]} string values`;
  }
}

/** Record<string, string> with a cap on entries: metadata, base64 headers. */
export function IsStringRecord(maxEntries: number): PropertyDecorator {
  return Validate(IsStringRecordConstraint, [maxEntries]);
}

@ValidatorConstraint({ name: 'isHeaderRecord', async: false })
export class IsHeaderRecordConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const max = (args.constraints?.[0] as number | undefined) ?? Infinity;
    const entries = Object.values(value as Record<string, unknown>);
    const ok = (v: unknown): boolean => typeof v === 'string';
    return entries.length <= max && entries.every((v) => ok(v) || (Array.isArray(v) && v.every(ok)));
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an object of at most ${args.constraints?.[0]} values, each a string or an array of strings`;
  }
}

/** Kafka headers, base64 per value; a repeated header becomes an array. */
export function IsBase64HeaderRecord(maxEntries: number): PropertyDecorator {
  return Validate(IsHeaderRecordConstraint, [maxEntries]);
}

@ValidatorConstraint({ name: 'isHttpUrl', async: false })
export class IsHttpUrlConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string' || value.length > 2048 || !HTTP_URL_PATTERN.test(value)) return false;
    try {
      new URL(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an absolute http(s) URL`;
  }
}

export const HTTP_URL_PATTERN = /^https?:\/\/[^\s/?#]+[^\s]*$/;

/** http(s) URL; localhost allowed (webhooks to a local receiver are a normal dev setup). */
export function IsHttpUrl(): PropertyDecorator {
  return Validate(IsHttpUrlConstraint);
}

export const RFC3339_PATTERN =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/** RFC 3339 timestamp with a zone, as CloudEvents `time` requires. */
export function IsRfc3339(): PropertyDecorator {
  return Matches(RFC3339_PATTERN, { message: '$property must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-31T12:00:00.000Z' });
}

/** JSON Schema fragments for the constraint names above, and overrides of defaults that would clash. */
export const SCHEMA_CONVERTERS = {
  isPresent: {},
  isStringRecord: (meta: { constraints: unknown[] }) => ({
    type: 'object',
    additionalProperties: { type: 'string' },
    maxProperties: meta.constraints[0] as number,
  }),
  isHeaderRecord: (meta: { constraints: unknown[] }) => ({
    type: 'object',
    additionalProperties: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    maxProperties: meta.constraints[0] as number,
  }),
  isHttpUrl: { type: 'string', format: 'uri', pattern: HTTP_URL_PATTERN.source, maxLength: 2048 },
  // The defaults add `type: number`, which would override `type: integer` depending on decorator order.
  min: (meta: { constraints: unknown[] }) => ({ minimum: meta.constraints[0] as number }),
  max: (meta: { constraints: unknown[] }) => ({ maximum: meta.constraints[0] as number }),
  // The default emits the non-standard format "url".
  isUrl: { type: 'string', format: 'uri' },
};
