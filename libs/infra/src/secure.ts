// Secure mode of the local broker (`agentplane infra up --secure`): SASL/SCRAM-SHA-512 on the
// client listener, one principal per service, StandardAuthorizer ACLs letting each service
// write only the topics it owns. Loopback only, so SASL_PLAINTEXT (no TLS) is enough here;
// clusters use Strimzi KafkaUsers with the same ACLs (k8s/base/kafka).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InfraLayout } from './layout';
import { TopicKind, topicName } from './topics';

export const SECURE_SERVICES = ['gateway', 'planner', 'rate-limiter', 'executor', 'cost-accounting', 'audit'] as const;
export type SecureService = (typeof SECURE_SERVICES)[number];

/** kafkajs spelling; the broker's is SCRAM-SHA-512. */
export const SCRAM_MECHANISM = 'scram-sha-512';
export const ADMIN_PRINCIPAL = 'agentplane-admin';

export interface SaslCredentials {
  mechanism: typeof SCRAM_MECHANISM;
  username: string;
  password: string;
}

export interface SecureCredentials {
  admin: SaslCredentials;
  services: Record<SecureService, SaslCredentials>;
}

/**
 * Who may write and read which topic (DESIGN.md's services table). Every service may write
 * dead-letters (the transport parks undecodable records there). Besides cost accounting's
 * guardrail events, control-events carries the executor's `tool.circuit.changed`, the
 * planner's `planner.mode.changed` and the gateway's `webhook.delivery.attempted`. test/deploy/secure.spec.ts checks this table against the
 * topics each app's code names, so it cannot drift silently.
 */
export const SERVICE_ACLS: Record<SecureService, { write: TopicKind[]; read: TopicKind[] }> = {
  gateway: { write: ['session-requests', 'control-events', 'dead-letters'], read: ['session-events'] },
  planner: { write: ['session-events', 'control-events', 'dead-letters'], read: ['session-requests', 'session-events', 'control-events'] },
  'rate-limiter': { write: ['session-events', 'dead-letters'], read: ['session-events', 'control-events'] },
  executor: { write: ['session-events', 'control-events', 'dead-letters'], read: ['session-events'] },
  'cost-accounting': { write: ['control-events', 'dead-letters'], read: ['session-events', 'control-events'] },
  audit: { write: ['dead-letters'], read: ['session-events', 'control-events', 'dead-letters'] },
};

export function principalOf(svc: SecureService): string {
  return `agentplane-${svc}`;
}

/** Consumer groups a service may join: `agentplane-<svc>` and anything that starts with it. */
export function groupPrefixOf(svc: SecureService): string {
  return `agentplane-${svc}`;
}

/** The secure broker keeps its own data dir (its SCRAM users are written at format time). */
export function secureLayout(layout: InfraLayout): InfraLayout {
  const kafkaDir = path.join(layout.home, 'kafka-secure');
  return {
    ...layout,
    kafkaDir,
    // The jars are shared with the plaintext broker.
    kafkaLibs: layout.kafkaLibs,
    kafkaData: path.join(kafkaDir, 'data'),
    kafkaLogs: path.join(kafkaDir, 'logs'),
    kafkaProps: path.join(kafkaDir, 'server.properties'),
    kafkaLog4j: path.join(kafkaDir, 'log4j2.properties'),
    kafkaPidFile: path.join(kafkaDir, 'kafka.pid'),
  };
}

export function secureEnvFile(layout: InfraLayout): string {
  return path.join(layout.home, 'secure.env');
}

function password(): string {
  // base64url: no character that needs quoting in JAAS, the --add-scram syntax or a shell.
  return randomBytes(24).toString('base64url');
}

export function newCredentials(): SecureCredentials {
  const cred = (username: string): SaslCredentials => ({ mechanism: SCRAM_MECHANISM, username, password: password() });
  return {
    admin: cred(ADMIN_PRINCIPAL),
    services: Object.fromEntries(SECURE_SERVICES.map((s) => [s, cred(principalOf(s))])) as Record<SecureService, SaslCredentials>,
  };
}

/** Per-service variable prefix in secure.env: AGENTPLANE_RATE_LIMITER_KAFKA_SASL_USERNAME. */
export function serviceVarPrefix(svc: string): string {
  return `AGENTPLANE_${svc.toUpperCase().replace(/-/g, '_')}_`;
}

export function secureEnvText(creds: SecureCredentials, brokers: string): string {
  const lines = [
    '# Written by `agentplane infra up --secure`: one SCRAM principal per service. Keep private.',
    '# A service takes its own pair as KAFKA_SASL_USERNAME/PASSWORD (`agentplane up` maps them).',
    `KAFKA_BROKERS=${brokers}`,
    `KAFKA_SASL_MECHANISM=${SCRAM_MECHANISM}`,
    `AGENTPLANE_ADMIN_KAFKA_SASL_USERNAME=${creds.admin.username}`,
    `AGENTPLANE_ADMIN_KAFKA_SASL_PASSWORD=${creds.admin.password}`,
  ];
  for (const s of SECURE_SERVICES) {
    lines.push(`${serviceVarPrefix(s)}KAFKA_SASL_USERNAME=${creds.services[s].username}`);
    lines.push(`${serviceVarPrefix(s)}KAFKA_SASL_PASSWORD=${creds.services[s].password}`);
  }
  return lines.join('\n') + '\n';
}

export function parseEnvText(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

export function readSecureCredentials(file: string): SecureCredentials | undefined {
  let env: Record<string, string>;
  try {
    env = parseEnvText(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const get = (p: string): SaslCredentials | undefined => {
    const username = env[`${p}KAFKA_SASL_USERNAME`];
    const pw = env[`${p}KAFKA_SASL_PASSWORD`];
    return username && pw ? { mechanism: SCRAM_MECHANISM, username, password: pw } : undefined;
  };
  const admin = get('AGENTPLANE_ADMIN_');
  if (!admin) return undefined;
  const services = {} as Record<SecureService, SaslCredentials>;
  for (const s of SECURE_SERVICES) {
    const c = get(serviceVarPrefix(s));
    if (!c) return undefined;
    services[s] = c;
  }
  return { admin, services };
}

export function writeSecureEnv(file: string, creds: SecureCredentials, brokers: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, secureEnvText(creds, brokers), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** server.properties lines that turn the client listener into SASL_PLAINTEXT with ACLs. */
export function secureListenerProperties(host: string, port: number, controllerPort: number, creds: SecureCredentials): string[] {
  return [
    `listeners=SASL_PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=SASL_PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=SASL_PLAINTEXT',
    // KRaft stores SCRAM credentials in the metadata log, which the controller listener cannot
    // use to authenticate itself; it stays PLAINTEXT on loopback (its principal is ANONYMOUS).
    'listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT',
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${creds.admin.username}" password="${creds.admin.password}";`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    // The admin creates topics and ACLs; ANONYMOUS is the broker talking to its own controller.
    `super.users=User:${creds.admin.username};User:ANONYMOUS`,
    'allow.everyone.if.no.acl.found=false',
  ];
}

/** kafka-storage format arguments that create every principal before the first start. */
export function scramFormatArgs(creds: SecureCredentials): string[] {
  const all = [creds.admin, ...SECURE_SERVICES.map((s) => creds.services[s])];
  return all.flatMap((c) => ['--add-scram', `SCRAM-SHA-512=[name=${c.username},password=${c.password}]`]);
}

// kafkajs enums as numbers, so this file needs no kafkajs import (house rule: kafkajs lives in
// libs/messaging and, for now, kafka-admin.ts).
const RESOURCE = { TOPIC: 2, GROUP: 3, CLUSTER: 4 } as const;
const PATTERN = { LITERAL: 3, PREFIXED: 4 } as const;
const OP = { READ: 3, WRITE: 4, DESCRIBE: 8, IDEMPOTENT_WRITE: 12 } as const;
const ALLOW = 3;

export interface AclSpec {
  principal: string;
  resourceType: number;
  resourceName: string;
  resourcePatternType: number;
  operation: number;
  permissionType: number;
  host: string;
}

/** The ACL entries of every service for topics named with `prefix`. */
export function serviceAclEntries(prefix: string): AclSpec[] {
  const out: AclSpec[] = [];
  for (const s of SECURE_SERVICES) {
    const principal = `User:${principalOf(s)}`;
    const add = (resourceType: number, resourceName: string, resourcePatternType: number, operation: number) =>
      out.push({ principal, resourceType, resourceName, resourcePatternType, operation, permissionType: ALLOW, host: '*' });
    const { write, read } = SERVICE_ACLS[s];
    for (const k of write) add(RESOURCE.TOPIC, topicName(prefix, k), PATTERN.LITERAL, OP.WRITE);
    for (const k of read) add(RESOURCE.TOPIC, topicName(prefix, k), PATTERN.LITERAL, OP.READ);
    // Metadata and offsets of every project topic (lag metrics, partition discovery).
    for (const k of new Set([...write, ...read])) add(RESOURCE.TOPIC, topicName(prefix, k), PATTERN.LITERAL, OP.DESCRIBE);
    add(RESOURCE.GROUP, groupPrefixOf(s), PATTERN.PREFIXED, OP.READ);
    // Producers are idempotent (InitProducerId). Kafka implies it from any topic Write, but
    // says so explicitly here so it does not depend on which binding the broker saw first.
    add(RESOURCE.CLUSTER, 'kafka-cluster', PATTERN.LITERAL, OP.IDEMPOTENT_WRITE);
  }
  return out;
}
