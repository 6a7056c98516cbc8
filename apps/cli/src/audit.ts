// `agentplane audit ...`: replay, verify and checkpoint, straight from the audit store in
// Postgres (or from Kafka). Read-only: nothing here writes to the store or calls a planner/tool.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { Command, Option } from 'commander';
import { decode, type AgentplaneEvent } from '@agentplane/contracts';
import { loadAuditSettings } from '@agentplane/config';
import { readInfraEnv, topicName } from '@agentplane/infra';
import {
  AuditStore,
  formatTimeline,
  hex,
  loadMerkleLog,
  loadSigningKey,
  readKeyFile,
  readLog,
  replaySession,
  signCheckpoint,
  verifyCheckpointSignature,
  verifyStore,
  type SignedCheckpoint,
} from '@agentplane/audit';
import { loadConfig } from './config';

interface Conn {
  databaseUrl?: string;
  schema: string;
  brokers?: string;
  topicPrefix?: string;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function withConnOptions(c: Command): Command {
  return c
    .option('--schema <schema>', 'Postgres schema of the audit store', 'audit')
    .option('--database-url <url>', 'Postgres URL (default: the local stack, else $DATABASE_URL)')
    .option('--brokers <list>', 'Kafka brokers (default: the local stack, else $KAFKA_BROKERS)')
    .option('--topic-prefix <prefix>', 'topic prefix (default: the local stack, else $AGENTPLANE_TOPIC_PREFIX)');
}

function resolveConn(o: Conn): { databaseUrl: string; schema: string; brokers: string; prefix: string } {
  const cfg = loadConfig();
  const env = readInfraEnv(cfg.layout.envFile);
  return {
    databaseUrl: o.databaseUrl ?? env?.DATABASE_URL ?? cfg.databaseUrl,
    schema: o.schema,
    brokers: o.brokers ?? env?.KAFKA_BROKERS ?? cfg.externalKafkaBrokers ?? `127.0.0.1:${cfg.kafkaPort}`,
    prefix: o.topicPrefix ?? env?.AGENTPLANE_TOPIC_PREFIX ?? cfg.topicPrefix,
  };
}

/** --public-key files, else the public half of the configured signing key when it is readable. */
function trustedKeys(files: string[] | undefined): KeyObject[] {
  if (files && files.length > 0) return files.map((f) => readKeyFile(resolve(f)));
  const path = resolve(loadAuditSettings().signingKeyFile);
  return existsSync(path) ? [readKeyFile(path)] : [];
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const nonNegInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${v}`);
  return n;
};

async function withStore<T>(c: ReturnType<typeof resolveConn>, fn: (s: AuditStore) => Promise<T>): Promise<T> {
  // Read-only use: no role switch, the auditor's own credentials.
  const store = AuditStore.open({ databaseUrl: c.databaseUrl, schema: c.schema, role: null, max: 3, applicationName: 'agentplane-cli-audit' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('Replay and verify the tamper-evident event store (docs/audit.md)');

  withConnOptions(
    audit
      .command('replay <sessionId>')
      .description("Print a session's timeline; --at N shows its state after event N (folded by the session decider)")
      .option('--json', 'timeline and state as JSON')
      .addOption(new Option('--from <source>', 'read the store or the Kafka topic').choices(['postgres', 'kafka']).default('postgres'))
      .option('--at <n>', 'state after the first N events', nonNegInt),
  ).action(async (sessionId: string, o: Conn & { json?: boolean; from: 'postgres' | 'kafka'; at?: number }) => {
    const c = resolveConn(o);
    let events: Array<{ event: AgentplaneEvent; position?: number; hash?: string }>;
    if (o.from === 'kafka') {
      const records = await readLog({ brokers: c.brokers, topics: [topicName(c.prefix, 'session-events')] });
      const seen = new Set<string>();
      events = [];
      for (const r of records) {
        const d = decode(r.value, r.headers);
        // Kafka may hold a redelivered copy; the store keeps an event once, and so does replay.
        if (d.ok && d.event.subject === sessionId && !seen.has(d.event.id)) {
          seen.add(d.event.id);
          events.push({ event: d.event });
        }
      }
    } else {
      const rows = await withStore(c, (s) => s.stream(sessionId));
      events = rows.map((r) => ({ event: JSON.parse(r.canon) as AgentplaneEvent, position: r.position, hash: hex(r.hash) }));
    }
    if (events.length === 0) {
      err(`no events for session ${sessionId} in ${o.from === 'kafka' ? topicName(c.prefix, 'session-events') : `${c.schema}.events`}`);
      process.exitCode = 1;
      return;
    }
    const r = replaySession(sessionId, events, o.at !== undefined ? { at: o.at } : {});
    out(o.json ? JSON.stringify({ sessionId, source: o.from, at: r.at, total: r.total, state: r.state, timeline: r.timeline }, null, 2) : formatTimeline(r));
  });

  withConnOptions(
    audit
      .command('verify')
      .description('Check hash chains, checkpoints and signatures, and that every event on Kafka is in the store; exit 1 naming the first bad position')
      .option('--session <id>', "only this session's chain (checkpoints still cover the whole log)")
      .option('--checkpoint <file>', 'a checkpoint kept from earlier (audit checkpoint --out)')
      .option('--public-key <file>', 'trusted ed25519 public key (PEM); repeatable; default: the configured signing key', collect)
      .option('--no-kafka', 'skip the Kafka comparison')
      .option('--json', 'the report as JSON'),
  ).action(async (o: Conn & { session?: string; checkpoint?: string; publicKey?: string[]; kafka: boolean; json?: boolean }) => {
    const c = resolveConn(o);
    const keys = trustedKeys(o.publicKey);
    const held = o.checkpoint ? (JSON.parse(readFileSync(resolve(o.checkpoint), 'utf8')) as SignedCheckpoint) : undefined;
    const kafkaRecords = o.kafka
      ? await readLog({
          brokers: c.brokers,
          topics: o.session ? [topicName(c.prefix, 'session-events')] : (['session-events', 'control-events', 'dead-letters'] as const).map((k) => topicName(c.prefix, k)),
        })
      : undefined;
    const report = await withStore(c, (s) =>
      verifyStore(s, { trustedKeys: keys, ...(o.session !== undefined ? { streamId: o.session } : {}), ...(held ? { held } : {}), ...(kafkaRecords ? { kafkaRecords } : {}) }),
    );
    if (keys.length === 0 && report.checkpointsChecked + (held ? 1 : 0) > 0) err('warning: no trusted public key (--public-key): checkpoints cannot be accepted');
    if (o.json) out(JSON.stringify(report, null, 2));
    else {
      const scope = o.session ? `session ${o.session}: ` : '';
      for (const f of report.findings) out(`FAIL ${f.message}`);
      out(
        `${report.ok ? 'OK' : 'FAILED'}: ${scope}${report.events} events in ${report.streams} stream(s); log tree size ${report.treeSize}, root ${report.rootHash}; ` +
          `${report.checkpointsChecked} stored checkpoint(s)${held ? ', held checkpoint' : ''}` +
          (report.kafkaRecordsChecked !== undefined ? `; ${report.kafkaRecordsChecked} Kafka records` : '') +
          (report.consistency ? `; log grew ${report.consistency.fromSize} → ${report.consistency.toSize} (consistency proof ${report.consistency.verified ? 'verified' : 'FAILED'})` : ''),
      );
    }
    process.exitCode = report.ok ? 0 : 1;
  });

  withConnOptions(
    audit
      .command('checkpoint')
      .description("Save the latest signed checkpoint (checked against the store and a trusted key) for later 'verify --checkpoint'")
      .requiredOption('--out <file>', 'where to write it (JSON)')
      .option('--sign', 'sign a fresh checkpoint of the store now with the configured signing key (AUDIT_SIGNING_KEY_FILE)')
      .option('--public-key <file>', 'trusted ed25519 public key (PEM); repeatable', collect),
  ).action(async (o: Conn & { out: string; sign?: boolean; publicKey?: string[] }) => {
    const c = resolveConn(o);
    const keys = trustedKeys(o.publicKey);
    const signed = await withStore(c, async (s) => {
      const { log } = await loadMerkleLog(s);
      let cp: SignedCheckpoint | null;
      if (o.sign) {
        const { key } = loadSigningKey(resolve(loadAuditSettings().signingKeyFile));
        cp = signCheckpoint(key, { treeSize: log.size, rootHash: hex(log.root()) });
        keys.push(key);
      } else {
        cp = await s.latestCheckpoint();
        if (!cp) throw new Error('no checkpoint stored yet: the audit service signs one every AUDIT_CHECKPOINT_INTERVAL_MS once events arrive (or use --sign)');
      }
      const sig = verifyCheckpointSignature(cp, keys);
      if (!sig.ok) throw new Error(`refusing to save checkpoint: ${sig.reason}`);
      if (cp.checkpoint.treeSize > log.size || hex(log.root(cp.checkpoint.treeSize)) !== cp.checkpoint.rootHash) {
        throw new Error(`refusing to save checkpoint: its root does not match the first ${cp.checkpoint.treeSize} events in the store`);
      }
      return cp;
    });
    writeFileSync(resolve(o.out), JSON.stringify(signed, null, 2) + '\n');
    err(`saved checkpoint: tree size ${signed.checkpoint.treeSize}, root ${signed.checkpoint.rootHash}, key ${signed.checkpoint.keyId}, ${signed.checkpoint.time} → ${o.out}`);
  });

  audit
    .command('public-key')
    .description('Print the public half of the configured checkpoint signing key (PEM)')
    .option('--key <file>', 'signing key file (default AUDIT_SIGNING_KEY_FILE)')
    .action((o: { key?: string }) => {
      const k = readKeyFile(resolve(o.key ?? loadAuditSettings().signingKeyFile));
      out(k.export({ type: 'spki', format: 'pem' }).toString());
    });
}
