import * as path from 'node:path';

/** Where local infrastructure keeps its files (git-ignored `.agentplane/` by default). */
export interface InfraLayout {
  /** Repository root (holds infra/pom.xml and dist/). */
  root: string;
  /** State folder, default `<root>/.agentplane`. */
  home: string;
  kafkaDir: string;
  kafkaLibs: string;
  kafkaData: string;
  kafkaLogs: string;
  kafkaProps: string;
  kafkaLog4j: string;
  kafkaPidFile: string;
  pgDir: string;
  pgData: string;
  pgSocketDir: string;
  pgLog: string;
  runDir: string;
  envFile: string;
  pomFile: string;
}

export function infraLayout(root: string, home?: string): InfraLayout {
  const h = path.resolve(home ?? path.join(root, '.agentplane'));
  const kafkaDir = path.join(h, 'kafka');
  const pgDir = path.join(h, 'pg');
  return {
    root,
    home: h,
    kafkaDir,
    kafkaLibs: path.join(kafkaDir, 'libs'),
    kafkaData: path.join(kafkaDir, 'data'),
    kafkaLogs: path.join(kafkaDir, 'logs'),
    kafkaProps: path.join(kafkaDir, 'server.properties'),
    kafkaLog4j: path.join(kafkaDir, 'log4j2.properties'),
    kafkaPidFile: path.join(kafkaDir, 'kafka.pid'),
    pgDir,
    pgData: path.join(pgDir, 'data'),
    pgSocketDir: path.join(pgDir, 'run'),
    pgLog: path.join(pgDir, 'postgres.log'),
    runDir: path.join(h, 'run'),
    envFile: path.join(h, 'env.json'),
    pomFile: path.join(root, 'infra', 'pom.xml'),
  };
}
