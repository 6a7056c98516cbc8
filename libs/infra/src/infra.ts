import * as fs from 'node:fs';
import { InfraEnv, readInfraEnv, removeInfraEnv, writeInfraEnv } from './env-file';
import { InfraError } from './errors';
import { createAcls, describeTopics, ensureTopics, isKafkaReachable } from './kafka-admin';
import { checkKafkaPorts, ensureKafkaLibs, kafkaBrokers, kafkaLibsPresent, kafkaPid, kafkaStatus, startKafka, stopKafka } from './kafka';
import { InfraLayout } from './layout';
import { hasLocalPostgres, isPostgresReachable, localPostgresUrl, startLocalPostgres, stopLocalPostgres } from './postgres';
import { Progress, silentProgress } from './progress';
import {
  newCredentials,
  readSecureCredentials,
  secureEnvFile,
  secureLayout,
  serviceAclEntries,
  writeSecureEnv,
  type SaslCredentials,
} from './secure';
import { topicSpecs, TopicSpecOptions } from './topics';

export interface InfraOptions {
  layout: InfraLayout;
  /** Local broker listener port (default 9092) and controller port. */
  kafkaPort: number;
  kafkaControllerPort: number;
  /** An explicitly configured external cluster (KAFKA_BROKERS); used as is when reachable. */
  externalKafkaBrokers?: string;
  /** DATABASE_URL to try first. */
  databaseUrl: string;
  /** Port of the throwaway local cluster when databaseUrl is unreachable. */
  localPgPort: number;
  topicPrefix: string;
  topics?: TopicSpecOptions;
  kafkaReadyTimeoutMs?: number;
  /**
   * SASL/SCRAM + ACLs on the local broker (its own data dir, `.agentplane/kafka-secure`);
   * credentials go to `.agentplane/secure.env`.
   */
  secure?: boolean;
  progress?: Progress;
  log?: (line: string) => void;
}

export interface InfraUpResult {
  env: InfraEnv;
  startedKafka: boolean;
  startedPostgres: boolean;
  createdTopics: string[];
}

/** Brings up Kafka (local unless an external one is configured), the topics, and Postgres. */
export async function infraUp(o: InfraOptions): Promise<InfraUpResult> {
  const progress = o.progress ?? silentProgress;
  const log = o.log ?? (() => undefined);
  fs.mkdirSync(o.layout.home, { recursive: true });

  if (o.secure) return secureInfraUp(o);
  if (kafkaPid(secureLayout(o.layout))) {
    throw new InfraError('The secure local broker runs (infra up --secure): use --secure, or `agentplane infra down` first.');
  }
  let brokers: string;
  let startedKafka = false;
  let kafka: InfraEnv['kafka'];
  if (o.externalKafkaBrokers) {
    brokers = o.externalKafkaBrokers;
    const ok = await progress(`Checking Kafka at ${brokers}`, () => isKafkaReachable(brokers.split(','), 3_000));
    if (!ok) throw new InfraError(`KAFKA_BROKERS=${brokers} is set but not reachable. Unset it to run the local broker.`);
    kafka = { managed: false };
  } else {
    brokers = kafkaBrokers({ port: o.kafkaPort });
    const ours = kafkaPid(o.layout);
    if (!ours && (await isKafkaReachable([brokers], 1_500))) {
      // Someone else's broker (docker compose, another checkout) already listens there: use it.
      log(`Kafka already answers at ${brokers} (not started by agentplane); using it.`);
      kafka = { managed: false, port: o.kafkaPort };
    } else {
      if (!ours) await checkKafkaPorts({ port: o.kafkaPort, controllerPort: o.kafkaControllerPort });
      if (!kafkaLibsPresent(o.layout)) {
        await progress('Fetching Kafka from Maven Central (first run only)', () => ensureKafkaLibs(o.layout));
        log(`Kafka jars in ${o.layout.kafkaLibs}`);
      }
      const r = await progress(`Starting Kafka on ${brokers}`, () =>
        startKafka(o.layout, { port: o.kafkaPort, controllerPort: o.kafkaControllerPort, readyTimeoutMs: o.kafkaReadyTimeoutMs }),
      );
      startedKafka = r.started;
      kafka = { managed: true, pid: r.pid, port: o.kafkaPort, controllerPort: o.kafkaControllerPort };
    }
  }

  const createdTopics = await progress('Creating topics', () =>
    ensureTopics(brokers.split(','), topicSpecs(o.topicPrefix, o.topics)),
  );
  return finishUp(o, brokers, kafka, startedKafka, createdTopics);
}

/** The broker with SASL/SCRAM, one principal per service and their ACLs. */
async function secureInfraUp(o: InfraOptions): Promise<InfraUpResult> {
  const progress = o.progress ?? silentProgress;
  if (o.externalKafkaBrokers) {
    throw new InfraError(`--secure runs the local broker; KAFKA_BROKERS=${o.externalKafkaBrokers} names another cluster (secure it with its own tools).`);
  }
  if (kafkaPid(o.layout)) {
    throw new InfraError('The plaintext local broker runs: `agentplane infra down --only kafka` first, or use another --port.');
  }
  const layout = secureLayout(o.layout);
  const credsFile = secureEnvFile(o.layout);
  let creds = readSecureCredentials(credsFile);
  if (!creds) {
    // SCRAM users are written when the storage is formatted: new credentials need a new data dir.
    if (kafkaPid(layout)) throw new InfraError(`The secure broker runs but ${credsFile} is missing or incomplete; run \`agentplane infra down\` first.`);
    fs.rmSync(layout.kafkaData, { recursive: true, force: true });
    creds = newCredentials();
  }
  const brokers = kafkaBrokers({ port: o.kafkaPort });
  if (!kafkaPid(layout) && (await isKafkaReachable([brokers], 1_500))) {
    throw new InfraError(`Another Kafka already answers at ${brokers}; pick a free port for the secure broker (--port).`);
  }
  // Written before the first start: the storage is formatted with exactly these.
  if (!kafkaPid(layout)) await checkKafkaPorts({ port: o.kafkaPort, controllerPort: o.kafkaControllerPort });
  writeSecureEnv(credsFile, creds, brokers);
  if (!kafkaLibsPresent(layout)) await progress('Fetching Kafka from Maven Central (first run only)', () => ensureKafkaLibs(layout));
  const r = await progress(`Starting Kafka with SASL/SCRAM and ACLs on ${brokers}`, () =>
    startKafka(layout, {
      port: o.kafkaPort,
      controllerPort: o.kafkaControllerPort,
      readyTimeoutMs: o.kafkaReadyTimeoutMs,
      secure: creds,
    }),
  );
  const createdTopics = await progress('Creating topics', () =>
    ensureTopics([brokers], topicSpecs(o.topicPrefix, o.topics), 30_000, creds.admin),
  );
  await progress('Granting per-service ACLs', () => createAcls([brokers], creds.admin, serviceAclEntries(o.topicPrefix)));
  const kafka: InfraEnv['kafka'] = { managed: true, pid: r.pid, port: o.kafkaPort, controllerPort: o.kafkaControllerPort, secure: true, credentialsFile: credsFile };
  return finishUp(o, brokers, kafka, r.started, createdTopics);
}

async function finishUp(
  o: InfraOptions,
  brokers: string,
  kafka: InfraEnv['kafka'],
  startedKafka: boolean,
  createdTopics: string[],
): Promise<InfraUpResult> {
  const progress = o.progress ?? silentProgress;
  let databaseUrl = o.databaseUrl;
  let startedPostgres = false;
  let postgres: InfraEnv['postgres'] = { managed: false };
  const reachable = await progress(`Checking Postgres at ${redact(o.databaseUrl)}`, () => isPostgresReachable(o.databaseUrl, 2_000));
  if (!reachable) {
    const r = await progress(`Starting a local Postgres on 127.0.0.1:${o.localPgPort}`, () =>
      startLocalPostgres(o.layout, o.localPgPort),
    );
    databaseUrl = r.url;
    startedPostgres = r.started;
    postgres = { managed: true, port: o.localPgPort };
  }

  const env: InfraEnv = {
    KAFKA_BROKERS: brokers,
    DATABASE_URL: databaseUrl,
    AGENTPLANE_TOPIC_PREFIX: o.topicPrefix,
    kafka,
    postgres,
    updatedAt: new Date().toISOString(),
  };
  writeInfraEnv(o.layout.envFile, env);
  return { env, startedKafka, startedPostgres, createdTopics };
}

/** Stops what agentplane runs locally (the broker and the throwaway Postgres); leaves the rest. */
export async function infraDown(
  o: Pick<InfraOptions, 'layout' | 'progress'> & { only?: 'kafka' | 'postgres' },
): Promise<{ kafka: string; postgres: string }> {
  const progress = o.progress ?? silentProgress;
  let kafka = 'kept';
  let postgres = 'kept';
  if (o.only !== 'postgres') {
    kafka = kafkaPid(o.layout) ? await progress('Stopping Kafka', () => stopKafka(o.layout)) : 'not-running';
    const sec = secureLayout(o.layout);
    if (kafkaPid(sec)) kafka = await progress('Stopping the secure Kafka', () => stopKafka(sec));
  }
  if (o.only !== 'kafka') {
    postgres = hasLocalPostgres(o.layout) ? await progress('Stopping local Postgres', () => stopLocalPostgres(o.layout)) : 'not-running';
  }
  // What remains up is no longer described by env.json.
  removeInfraEnv(o.layout.envFile);
  return { kafka, postgres };
}

export interface InfraStatus {
  up: boolean;
  kafka: { brokers: string; reachable: boolean; managed: boolean; pid?: number; clusterId?: string; secure?: boolean };
  topics: { topic: string; partitions: number; present: boolean }[];
  postgres: { url: string; reachable: boolean; managed: boolean };
}

/** Live status: reads env.json for what was brought up, then checks each piece. */
export async function infraStatus(o: InfraOptions): Promise<InfraStatus> {
  const env = readInfraEnv(o.layout.envFile);
  const brokers = env?.KAFKA_BROKERS ?? o.externalKafkaBrokers ?? kafkaBrokers({ port: o.kafkaPort });
  const secure = env?.kafka.secure ? readSecureCredentials(secureEnvFile(o.layout)) : undefined;
  const sasl: SaslCredentials | undefined = secure?.admin;
  const k = await kafkaStatus(secure ? secureLayout(o.layout) : o.layout, brokers, sasl);
  const prefix = env?.AGENTPLANE_TOPIC_PREFIX ?? o.topicPrefix;
  const specs = topicSpecs(prefix, o.topics);
  let present = new Map<string, number>();
  if (k.reachable) {
    try {
      const all = await describeTopics(brokers.split(','), { sasl });
      present = new Map(all.map((t) => [t.topic, t.partitions]));
    } catch {
      /* reported as missing */
    }
  }
  const topics = specs.map((s) => ({ topic: s.topic, partitions: present.get(s.topic) ?? 0, present: present.has(s.topic) }));
  const pgUrl = env?.DATABASE_URL ?? (hasLocalPostgres(o.layout) ? localPostgresUrl(o.localPgPort) : o.databaseUrl);
  const pgOk = await isPostgresReachable(pgUrl, 2_000);
  return {
    up: k.reachable && pgOk && topics.every((t) => t.present),
    kafka: { brokers, reachable: k.reachable, managed: k.pid !== undefined, pid: k.pid, clusterId: k.clusterId, secure: secure !== undefined },
    topics,
    postgres: { url: pgUrl, reachable: pgOk, managed: env?.postgres.managed ?? hasLocalPostgres(o.layout) },
  };
}

/** Hides a password in a URL for display. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
