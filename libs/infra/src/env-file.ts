import * as fs from 'node:fs';
import * as path from 'node:path';

/** What `infra up` brought up, written to `.agentplane/env.json` for other commands and tests. */
export interface InfraEnv {
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
  AGENTPLANE_TOPIC_PREFIX: string;
  /** `secure`: SASL/SCRAM broker of `infra up --secure`; credentials in `credentialsFile`. */
  kafka: { managed: boolean; pid?: number; port?: number; controllerPort?: number; secure?: boolean; credentialsFile?: string };
  postgres: { managed: boolean; port?: number };
  updatedAt: string;
}

export function readInfraEnv(envFile: string): InfraEnv | undefined {
  try {
    return JSON.parse(fs.readFileSync(envFile, 'utf8')) as InfraEnv;
  } catch {
    return undefined;
  }
}

export function writeInfraEnv(envFile: string, env: InfraEnv): void {
  fs.mkdirSync(path.dirname(envFile), { recursive: true });
  const tmp = `${envFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(env, null, 2) + '\n');
  fs.renameSync(tmp, envFile);
}

export function removeInfraEnv(envFile: string): void {
  fs.rmSync(envFile, { force: true });
}
