// `agentplane projections rebuild|checksum` and `agentplane cost whatif`: cost-accounting's CLI.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { Client } from 'pg';
import { loadConfig as loadServiceConfig, type ServiceConfig } from '@agentplane/config';
import { readInfraEnv, topicName } from '@agentplane/infra';
import {
  loadPriceBook,
  projectionChecksum,
  rebuildProjections,
  recordPriceTable,
  toCsv,
  whatIf,
  type RebuildReport,
} from '@agentplane/ledger';
import { createKafka } from '@agentplane/messaging';
import { loadPrices } from '@agentplane/tools';
import { loadConfig } from './config';

const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * cost-accounting's own configuration as its service would see it: what `infra up` recorded,
 * overridden by the environment (DB_SCHEMA, AGENTPLANE_TOPIC_PREFIX, DATABASE_URL, ...).
 */
export function costServiceConfig(): ServiceConfig {
  const infra = readInfraEnv(loadConfig().layout.envFile);
  const fromInfra: Record<string, string> = infra
    ? { KAFKA_BROKERS: infra.KAFKA_BROKERS, DATABASE_URL: infra.DATABASE_URL, AGENTPLANE_TOPIC_PREFIX: infra.AGENTPLANE_TOPIC_PREFIX }
    : {};
  const env: Record<string, string | undefined> = { ...fromInfra };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && v !== '') env[k] = v;
  return loadServiceConfig('cost-accounting', env);
}

export async function connectSchema(cfg: ServiceConfig): Promise<Client> {
  const db = new Client({ connectionString: cfg.databaseUrl, options: `-c search_path="${cfg.dbSchema}"`, application_name: 'agentplane-cli' });
  await db.connect();
  const r = await db.query(`SELECT to_regclass('ledger_entries') AS t`);
  if (!r.rows[0]?.t) {
    await db.end();
    throw new Error(`schema "${cfg.dbSchema}" has no cost projections: start cost-accounting once (it migrates its schema)`);
  }
  return db;
}

function parseTime(name: string): (v: string) => Date {
  return (v) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new Error(`${name}: not a date or RFC 3339 time: ${v}`);
    return d;
  };
}

function printRebuild(r: RebuildReport): void {
  const rows = Object.entries(r.rows);
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(
    `records read    ${r.records}\nprojected       ${r.projected} (duplicates ${r.duplicates}, invalid ${r.invalid}, other types ${r.ignored})\n` +
      rows.map(([k, n]) => `  ${k.padEnd(w)}  ${n}`).join('\n') +
      `\nread ${r.readMs} ms, write ${r.writeMs} ms, total ${r.totalMs} ms\n`,
  );
}

export function registerCostCommands(program: Command): void {
  const projections = program.command('projections').description("cost-accounting's projections (ledger, sessions, tenants, tools, models, signals)");

  projections
    .command('rebuild')
    .description('Drop every cost projection and rebuild it from the event log (live handling resumes after it)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const cfg = costServiceConfig();
      const db = await connectSchema(cfg);
      const kafka = createKafka({ brokers: [...cfg.kafka.brokers], clientId: 'agentplane-cli-rebuild', logLevel: 'nothing' });
      try {
        // A price table nobody recorded yet (service never saw this file) is recorded now, like at service boot.
        await recordPriceTable(db, loadPrices(join(cfg.configDir, 'prices.yaml')), join(cfg.configDir, 'prices.yaml'));
        const prices = await loadPriceBook(db);
        say(`rebuilding cost projections in schema ${cfg.dbSchema} from ${topicName(cfg.topicPrefix, 'session-events')} ...`);
        const r = await rebuildProjections({
          kafka, db, prices, topics: [topicName(cfg.topicPrefix, 'session-events')],
          onProgress: (n) => say(`  ${n} records`),
        });
        const sum = await projectionChecksum(db);
        if (opts.json) process.stdout.write(JSON.stringify({ ...r, checksum: sum.checksum }, null, 2) + '\n');
        else {
          printRebuild(r);
          process.stdout.write(`checksum        ${sum.checksum}\n`);
        }
      } finally {
        await db.end();
      }
    });

  projections
    .command('checksum')
    .description('Digest over every cost projection row (equal before and after a rebuild)')
    .option('--json', 'per-table row counts and digests')
    .action(async (opts: { json?: boolean }) => {
      const db = await connectSchema(costServiceConfig());
      try {
        const s = await projectionChecksum(db);
        process.stdout.write(opts.json ? JSON.stringify(s, null, 2) + '\n' : `${s.checksum}\n`);
      } finally {
        await db.end();
      }
    });

  const cost = program.command('cost').description('Cost accounting');
  cost
    .command('whatif')
    .description('Reprice a period of the ledger with another price table; live projections are not touched')
    .requiredOption('--prices <file>', 'a prices.yaml')
    .option('--from <time>', 'start (RFC 3339 or date), inclusive', parseTime('--from'))
    .option('--to <time>', 'end (RFC 3339 or date), exclusive', parseTime('--to'))
    .option('--tenant <id>', 'only this tenant')
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table'))
    .option('--out <file>', 'write the output to a file instead of stdout')
    .action(async (opts: { prices: string; from?: Date; to?: Date; tenant?: string; format: 'table' | 'json' | 'csv'; out?: string }) => {
      const table = loadPrices(opts.prices);
      const db = await connectSchema(costServiceConfig());
      try {
        const r = await whatIf(db, table, { ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}), ...(opts.tenant ? { tenantId: opts.tenant } : {}) });
        let text: string;
        if (opts.format === 'json') text = JSON.stringify(r, null, 2) + '\n';
        else if (opts.format === 'csv') text = toCsv(r.rows as unknown as Record<string, unknown>[]);
        else {
          const head = ['tenant', 'kind', 'model/tool', 'entries', 'actual USD', 'what-if USD', 'delta USD'];
          const body = r.rows.map((x) => [x.tenantId, x.kind, x.model ?? x.tool ?? '', String(x.entries), x.actualUsd, x.whatIfUsd, x.deltaUsd]);
          body.push(['TOTAL', '', '', '', r.totals.actualUsd, r.totals.whatIfUsd, r.totals.deltaUsd]);
          const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
          const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
          text = `prices version ${r.priceVersion}, ${r.from ?? 'beginning'} .. ${r.to ?? 'now'}\n${line(head)}\n${body.map(line).join('\n')}\n`;
          if (r.unpricedModels.length) text += `models without a price in ${opts.prices} (kept as booked): ${r.unpricedModels.join(', ')}\n`;
        }
        if (opts.out) writeFileSync(opts.out, text);
        else process.stdout.write(text);
      } finally {
        await db.end();
      }
    });
}
