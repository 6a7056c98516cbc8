/**
 * The one place that reads the environment. Every service calls `loadConfig` once at boot
 * and passes the frozen result down; nothing else touches `process.env`, so what a service
 * can be configured with is all listed here.
 */

export const SERVICE_NAMES = ['gateway', 'planner', 'rate-limiter', 'executor', 'cost-accounting', 'audit'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = Object.freeze({
  gateway: 8080,
  'cost-accounting': 8081,
  audit: 8082,
  planner: 8083,
  'rate-limiter': 8084,
  executor: 8085,
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface KafkaSasl {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  readonly password: string;
}

export interface KafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Consumer group; `agentplane-<service>` unless KAFKA_GROUP_ID says otherwise (tests isolate with it). */
  readonly groupId: string;
  readonly sasl?: KafkaSasl;
  readonly ssl: boolean;
  /** Consumer session timeout (KAFKA_SESSION_TIMEOUT_MS, default 30000): how soon a dead member's partitions move. */
  readonly sessionTimeoutMs: number;
}

export interface ServiceConfig {
  readonly service: ServiceName;
  /** Interface the HTTP server binds to. */
  readonly host: string;
  readonly port: number;
  readonly kafka: KafkaConfig;
  readonly topicPrefix: string;
  readonly databaseUrl: string;
  /** Postgres schema this service owns; all its tables and its migrations table live there. */
  readonly dbSchema: string;
  /**
   * Postgres `synchronous_commit` for this service's connections. `on` (default): a commit
   * waits for its WAL flush. `off`: it does not (faster on disks with slow fsync), and a
   * Postgres or OS crash may forget the last commits (docs/operations.md says what that means).
   */
  readonly dbSynchronousCommit: 'on' | 'off';
  readonly configDir: string;
  readonly logLevel: LogLevel;
  readonly otlpEndpoint?: string;
  /** Hard deadline for a graceful stop after SIGTERM/SIGINT before the process exits 1. */
  readonly shutdownTimeoutMs: number;
  /**
   * Test-only crash point (AGENTPLANE_FAULT_INJECTION), e.g. `executor:after-tool-response`:
   * the service kills itself with SIGKILL there, so fault tests hit an exact moment.
   */
  readonly faultInjection?: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration for ${service}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function isServiceName(value: string): value is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(value);
}

/** `cost-accounting` → `cost_accounting`: a bare Postgres identifier needs no quoting. */
export function defaultSchemaFor(service: ServiceName): string {
  return service.replace(/-/g, '_');
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const TOPIC_PREFIX_RE = /^[a-zA-Z0-9._-]{1,100}$/;
const BROKER_RE = /^[^\s:/]+:\d{1,5}$/;

/**
 * Reads and validates the configuration of `service`. Collects every problem before failing
 * so an operator fixes them all in one go; throws `ConfigError`.
 */
export function loadConfig(service: ServiceName, env: Env = process.env): ServiceConfig {
  const problems: string[] = [];
  if (!isServiceName(service)) {
    throw new ConfigError(String(service), [`unknown service "${service}" (one of ${SERVICE_NAMES.join(', ')})`]);
  }
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const port = int(str('PORT'), DEFAULT_PORTS[service], 'PORT', 0, 65535, problems);
  const host = str('HOST') ?? '0.0.0.0';

  const brokers = (str('KAFKA_BROKERS') ?? '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const badBrokers = brokers.filter((b) => !BROKER_RE.test(b));
  if (brokers.length === 0 || badBrokers.length > 0) {
    problems.push(`KAFKA_BROKERS: expected host:port[,host:port...], got "${env.KAFKA_BROKERS}"`);
  }

  let sasl: KafkaSasl | undefined;
  const mech = str('KAFKA_SASL_MECHANISM')?.toLowerCase();
  const user = str('KAFKA_SASL_USERNAME');
  const pass = env.KAFKA_SASL_PASSWORD; // a password may legitimately contain spaces
  if (mech !== undefined) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(mech)) {
      problems.push(`KAFKA_SASL_MECHANISM: expected one of ${SASL_MECHANISMS.join(', ')}, got "${mech}"`);
    }
    if (!user) problems.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set');
    if (!pass) problems.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
    sasl = { mechanism: mech as SaslMechanism, username: user ?? '', password: pass ?? '' };
  } else if (user || pass) {
    problems.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME/PASSWORD are set');
  }
  const ssl = bool(str('KAFKA_SSL'), false, 'KAFKA_SSL', problems);

  const topicPrefix = str('AGENTPLANE_TOPIC_PREFIX') ?? 'agentplane';
  if (!TOPIC_PREFIX_RE.test(topicPrefix)) {
    problems.push(`AGENTPLANE_TOPIC_PREFIX: letters, digits, '.', '_' or '-' only, got "${topicPrefix}"`);
  }

  const databaseUrl = str('DATABASE_URL') ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    const u = new URL(databaseUrl);
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
      problems.push(`DATABASE_URL: expected a postgres:// URL, got protocol "${u.protocol}"`);
    }
  } catch {
    problems.push(`DATABASE_URL: not a valid URL (${redactUrl(databaseUrl)})`);
  }

  const dbSynchronousCommit = str('DB_SYNCHRONOUS_COMMIT') ?? 'on';
  if (dbSynchronousCommit !== 'on' && dbSynchronousCommit !== 'off') {
    problems.push(`DB_SYNCHRONOUS_COMMIT: expected on or off, got "${dbSynchronousCommit}"`);
  }
  const dbSchema = str('DB_SCHEMA') ?? defaultSchemaFor(service);
  if (!SCHEMA_RE.test(dbSchema)) {
    problems.push(`DB_SCHEMA: lower-case letters, digits and '_' (max 63, not starting with a digit), got "${dbSchema}"`);
  }

  const logLevel = (str('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const otlpEndpoint = str('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (otlpEndpoint !== undefined) {
    try {
      const u = new URL(otlpEndpoint);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      problems.push(`OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL, got "${otlpEndpoint}"`);
    }
  }

  const shutdownTimeoutMs = int(str('SHUTDOWN_TIMEOUT_MS'), 15_000, 'SHUTDOWN_TIMEOUT_MS', 100, 600_000, problems);
  const sessionTimeoutMs = int(str('KAFKA_SESSION_TIMEOUT_MS'), 30_000, 'KAFKA_SESSION_TIMEOUT_MS', 3_000, 300_000, problems);
  const faultInjection = str('AGENTPLANE_FAULT_INJECTION');

  if (problems.length > 0) throw new ConfigError(service, problems);

  const config: ServiceConfig = {
    service,
    host,
    port,
    kafka: {
      brokers: Object.freeze(brokers),
      clientId: str('KAFKA_CLIENT_ID') ?? `agentplane-${service}`,
      groupId: str('KAFKA_GROUP_ID') ?? `agentplane-${service}`,
      ...(sasl ? { sasl: Object.freeze(sasl) } : {}),
      ssl,
      sessionTimeoutMs,
    },
    topicPrefix,
    databaseUrl,
    dbSchema,
    dbSynchronousCommit: dbSynchronousCommit as 'on' | 'off',
    configDir: str('AGENTPLANE_CONFIG') ?? 'config/',
    logLevel: logLevel as LogLevel,
    ...(otlpEndpoint ? { otlpEndpoint } : {}),
    shutdownTimeoutMs,
    ...(faultInjection ? { faultInjection } : {}),
  };
  return deepFreeze(config);
}

/**
 * Boot-time wrapper: on bad configuration print the one error listing every bad variable and
 * exit 1, which is what an operator (and a crash-looping pod) should see.
 */
export function loadConfigOrExit(service: ServiceName, env: Env = process.env): ServiceConfig {
  try {
    return loadConfig(service, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        JSON.stringify({ level: 'fatal', service, msg: err.message, problems: err.problems, time: Date.now() }) + '\n',
      );
      process.exit(1);
    }
    throw err;
  }
}

/** Copy safe to log: passwords in URLs and SASL credentials masked. */
export function redacted(config: ServiceConfig): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: redactUrl(config.databaseUrl),
    kafka: {
      ...config.kafka,
      ...(config.kafka.sasl ? { sasl: { ...config.kafka.sasl, password: '[Redacted]' } } : {}),
    },
  };
}

/** `postgres://u:secret@h/db` → `postgres://u:***@h/db`; also works inside larger strings. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi, '$1***@');
}

function int(raw: string | undefined, dflt: number, name: string, min: number, max: number, problems: string[]): number {
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name}: expected an integer, got "${raw}"`);
    return dflt;
  }
  const n = Number(raw);
  if (n < min || n > max) {
    problems.push(`${name}: expected ${min}..${max}, got ${n}`);
    return dflt;
  }
  return n;
}

function bool(raw: string | undefined, dflt: boolean, name: string, problems: string[]): boolean {
  if (raw === undefined) return dflt;
  const v = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  problems.push(`${name}: expected true or false, got "${raw}"`);
  return dflt;
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object' && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj)) deepFreeze(v);
  }
  return obj;
}
