/**
 * Cost accounting acceptance, against the real broker and Postgres, with cost-accounting as
 * its own OS process fed realistic events on random topics: hand-computed costs to the cent
 * (per session, tenant, tool, model), idempotence, the guardrail exactly at its threshold and
 * its clearing, tenant isolation on every endpoint, CSV, rebuild = live, and partition
 * interleaving not mattering.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { decode } from '@agentplane/contracts';
import { LEDGER, PriceBook, loadPriceBook, projectionChecksum, rebuildProjections, PROJECTION_TABLES, sqlTypeOf } from '@agentplane/ledger';
import { createKafka } from '@agentplane/messaging';
import { readTopic, testKafka, waitForKafka } from '../support';
import { DIST } from '../platform/helpers';
import {
  api, costEnv, DATABASE_URL, disposeEnv, KEYS, knownWorkload, publish, startCost, tenantsYaml, tool, step, waitFor, type CostEnv,
} from './helpers';

let e: CostEnv;
const extraSchemas: string[] = [];

before(async () => {
  await waitForKafka();
  e = await costEnv(3);
  await startCost(e);
});

after(async () => {
  if (e) await disposeEnv(e, extraSchemas);
});

async function waitApplied(n: number): Promise<void> {
  // Ledger entries + other projected events: everything published has been booked.
  await waitFor(`${n} events projected`, async () => {
    const r = await e.pg.query<{ n: string }>(`SELECT ((SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM processed_events))::text AS n`);
    return Number(r.rows[0].n) >= n ? true : undefined;
  }, 30_000, 50);
}

async function waitCommittedOffsets(): Promise<void> {
  // Projections contain every record of the topic (checkpoints reached the end offsets).
  await waitFor('checkpoints at the end of the log', async () => {
    const ends = await e.admin.admin.fetchTopicOffsets(e.sessionTopic);
    const r = await e.pg.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset FROM projection_offsets WHERE topic = $1`, [e.sessionTopic]);
    const at = new Map(r.rows.map((x) => [x.partition, Number(x.next_offset)]));
    return ends.every((p) => Number(p.high) === 0 || at.get(p.partition) === Number(p.high)) ? true : undefined;
  }, 30_000, 50);
}

describe('cost accounting', { concurrency: false }, () => {
  test('the migration created every projection table as its spec declares', async () => {
    for (const t of PROJECTION_TABLES) {
      const r = await e.pg.query<{ column_name: string; data_type: string; numeric_scale: number | null }>(
        `SELECT column_name, data_type, numeric_scale FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [e.schema, t.name],
      );
      assert.deepEqual(r.rows.map((x) => x.column_name), t.columns.map((c) => c.name), t.name);
      for (const [i, col] of t.columns.entries()) {
        const want = sqlTypeOf(col).replace('timestamptz', 'timestamp with time zone').replace(/numeric\(38,9\)/, 'numeric');
        assert.equal(r.rows[i].data_type, want, `${t.name}.${col.name}`);
      }
    }
  });

  test('a known workload costs exactly the hand-computed amounts (session, tenant, tool, model)', async () => {
    const events = knownWorkload();
    await publish(e, events);
    // Redelivery: the same events again (same ids) change nothing.
    await publish(e, events.slice(0, 6));
    await waitApplied(events.length);
    await waitCommittedOffsets();

    const a1 = await api(e, '/v1/sessions/s-a1', KEYS.a);
    assert.equal(a1.status, 200, a1.text);
    assert.equal(a1.body.inferenceUsd, '0.44');
    assert.equal(a1.body.toolUsd, '0.2505');
    assert.equal(a1.body.totalUsd, '0.6905');
    assert.equal(a1.body.status, 'completed');
    assert.equal(a1.body.plannerSteps, 2);
    assert.equal(a1.body.toolCalls, 2);
    assert.equal(a1.body.budgetUsd, '5');
    assert.equal(a1.body.entries.length, 4);
    assert.deepEqual(a1.body.entries.map((x: { priceVersion: string }) => x.priceVersion), ['prices.yaml@1', 'executor', 'executor', 'prices.yaml@1']);

    const a2 = await api(e, '/v1/sessions/s-a2', KEYS.analyst);
    assert.equal(a2.body.inferenceUsd, '0.11816655'); // 0.11666655 + a failed step's 0.0015: spent tokens are booked
    assert.equal(a2.body.toolUsd, '0.0002');
    assert.equal(a2.body.status, 'failed');
    assert.equal(a2.body.failureCode, 'planner_failed');
    assert.equal(a2.body.toolRejections, 1);

    const tenants = await api(e, '/v1/tenants', KEYS.analyst);
    const byId = Object.fromEntries(tenants.body.items.map((t: { tenantId: string }) => [t.tenantId, t]));
    assert.equal(byId['t-a'].inferenceUsd, '0.55816655');
    assert.equal(byId['t-a'].toolUsd, '0.2507');
    assert.equal(byId['t-a'].totalUsd, '0.80886655');
    assert.equal(byId['t-a'].forecastUsd, '10');
    assert.equal(byId['t-a'].thresholdUsd, '11.5');
    assert.equal(byId['t-b'].totalUsd, '0.0455');

    const months = await api(e, '/v1/tenants/t-a/months', KEYS.a);
    assert.equal(months.status, 200);
    assert.equal(months.body.items.length, 1);
    assert.equal(months.body.items[0].sessionsCompleted, 1);
    assert.equal(months.body.items[0].sessionsFailed, 1);

    const tools = Object.fromEntries((await api(e, '/v1/tools', KEYS.analyst)).body.items.map((t: { tool: string }) => [t.tool, t]));
    assert.deepEqual(
      { calls: tools.search.calls, cost: tools.search.costUsd, ok: tools.search.successRate },
      { calls: 2, cost: '0.001', ok: 1 },
    );
    assert.equal(tools.summarize.costUsd, '0.25');
    assert.equal(tools.summarize.rejected, 1);
    assert.equal(tools.summarize.rejectedBudget, 1);
    assert.equal(tools.summarize.retries, 1);
    assert.equal(tools.fetch_doc.failed, 1);
    assert.equal(tools.fetch_doc.retries, 2);
    assert.equal(tools.fetch_doc.costUsd, '0.0002');

    const models = Object.fromEntries((await api(e, '/v1/models', KEYS.analyst)).body.items.map((m: { model: string }) => [m.model, m]));
    assert.equal(models['gpt-4o-mini'].costUsd, '0.46316655');
    assert.equal(models['gpt-4o-mini'].steps, 4);
    assert.equal(models['gpt-4o-mini'].passRate, 0.5); // 2 of 4: one did not pass, one failed
    assert.equal(models['gpt-4o-mini'].promptTokens, 1_443_333);
    assert.equal(models['llama-3.1-8b'].costUsd, '0.14');

    const m = await api(e, '/v1/metrics?bucket=day', KEYS.analyst);
    assert.equal(m.status, 200);
    const day = m.body.items.at(-1);
    assert.equal(day.totalUsd, '0.85436655');
    assert.equal(day.toolCalls, 4);
    assert.equal(day.toolSuccessRate, 0.75);
    assert.equal(day.sessionsEnded, 3);
    assert.equal(day.sessionSuccessRate, 0.666667);
    assert.equal(day.toolRetries, 3);
    assert.equal(day.toolLatencyP95Ms, 120);
    assert.equal(day.plannerLatencyP50Ms, 300);

    // The /metrics signals for Prometheus.
    const prom = await (await fetch(`${e.base}/metrics`)).text();
    assert.match(prom, /agentplane_planner_steps_total\{[^}]*tenant="t-a"[^}]*pass="true"[^}]*\} 2/);
    assert.match(prom, /agentplane_tool_calls_total\{[^}]*tool="fetch_doc"[^}]*outcome="failed"[^}]*\} 1/);
    assert.match(prom, /agentplane_consumer_lag_messages\{/);
    assert.match(prom, /agentplane_budget_guardrail_tripped\{/);
    // Every signal docs/alerts.yml alerts on is exposed.
    const rules = readFileSync(resolve(DIST, '..', 'docs', 'alerts.yml'), 'utf8');
    for (const name of new Set(rules.match(/agentplane_[a-z_]+/g) ?? [])) assert.match(prom, new RegExp(`# TYPE ${name} `), name);
  });

  test('CSV export of every endpoint', async () => {
    for (const path of ['/v1/sessions', '/v1/sessions/s-a1', '/v1/tenants', '/v1/tenants/t-a/months', '/v1/tools', '/v1/models', '/v1/metrics', '/v1/ledger', '/v1/guardrails']) {
      const r = await api(e, `${path}?format=csv`, KEYS.a);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.match(r.type, /^text\/csv/, path);
      assert.ok(r.text.split('\r\n').length >= 2, path);
    }
    const ledger = await api(e, '/v1/ledger?format=csv', KEYS.a);
    const [head, ...lines] = ledger.text.trim().split('\r\n');
    assert.match(head, /^eventId,kind,type,tenantId,sessionId/);
    assert.equal(lines.length, 7, 'tenant A has 7 ledger entries');
  });

  test("tenant A's key gets 403/404 for anything of tenant B, on every endpoint", async () => {
    const denied: Array<[string, number]> = [
      ['/v1/sessions?tenant=t-b', 403],
      ['/v1/sessions/s-b1', 404],
      ['/v1/tenants/t-b/months', 403],
      ['/v1/tools?tenant=t-b', 403],
      ['/v1/models?tenant=t-b', 403],
      ['/v1/metrics?tenant=t-b', 403],
      ['/v1/ledger?tenant=t-b', 403],
      ['/v1/guardrails?tenant=t-b', 403],
      ['/v1/projections/checksum', 403],
    ];
    for (const [path, status] of denied) {
      for (const suffix of ['', path.includes('?') ? '&format=csv' : '?format=csv']) {
        const r = await api(e, path + suffix, KEYS.a);
        assert.equal(r.status, status, `${path}${suffix}: ${r.text}`);
        assert.doesNotMatch(r.text, /s-b1|0\.0455/, `${path} leaks nothing of B`);
      }
    }
    // Unscoped lists are pinned to the key's tenant.
    const sessions = await api(e, '/v1/sessions', KEYS.a);
    assert.deepEqual(sessions.body.items.map((s: { sessionId: string }) => s.sessionId).sort(), ['s-a1', 's-a2']);
    assert.deepEqual((await api(e, '/v1/tenants', KEYS.a)).body.items.map((t: { tenantId: string }) => t.tenantId), ['t-a']);
    assert.equal((await api(e, '/v1/tools', KEYS.a)).body.items.find((t: { tool: string }) => t.tool === 'search').calls, 1);
    assert.doesNotMatch((await api(e, '/v1/ledger', KEYS.a)).text, /t-b/);
    // B's own key sees B; no key or a wrong key is 401.
    assert.equal((await api(e, '/v1/sessions/s-b1', KEYS.b)).status, 200);
    assert.equal((await api(e, '/v1/sessions')).status, 401);
    assert.equal((await api(e, '/v1/sessions', 'nope')).status, 401);
    // The OpenAPI document lists the analyst endpoints.
    const docs = await api(e, '/docs/json');
    for (const p of ['/v1/sessions', '/v1/sessions/{sessionId}', '/v1/tenants/{tenantId}/months', '/v1/tools', '/v1/models', '/v1/metrics']) assert.ok(docs.body.paths[p], p);
  });

  test('guardrail: trips strictly above forecast × 1.15, once under redelivery; clears when the forecast is raised', async () => {
    // t-g: forecast 1.00, 15 % → threshold 1.15.
    const atThreshold = tool('t-g', 's-g1', 'c1', 'summarize', '1.15');
    await publish(e, [atThreshold]);
    await waitFor('t-g spend booked', async () => ((await api(e, '/v1/tenants', KEYS.g)).body.items[0].totalUsd === '1.15' ? true : undefined), 20_000, 50);
    let g = (await api(e, '/v1/guardrails', KEYS.g)).body.items;
    assert.equal(g[0].tripped, false, 'exactly at the threshold does not trip');

    const over = tool('t-g', 's-g1', 'c2', 'search', '0.000000001');
    await publish(e, [over, over]); // and a redelivery of the same event
    await waitFor('tripped', async () => ((await api(e, '/v1/guardrails', KEYS.g)).body.items[0].tripped ? true : undefined), 20_000, 50);
    g = (await api(e, '/v1/guardrails', KEYS.g)).body.items;
    assert.equal(g[0].spendUsd, '1.150000001');

    const kafka = testKafka('t-cost-reader');
    const tripped = await readTopic(kafka, e.controlTopic, (recs) => {
      const evs = recs.map((r) => decode(r.value)).filter((d) => d.ok).map((d) => (d as { event: any }).event);
      return evs.some((x) => x.type === 'agentplane.budget.guardrail.tripped') ? evs : undefined;
    });
    const t = tripped.filter((x) => x.type === 'agentplane.budget.guardrail.tripped');
    assert.equal(t.length, 1);
    assert.equal(t[0].subject, 't-g');
    assert.deepEqual(
      { spend: t[0].data.spendUsd, forecast: t[0].data.forecastUsd, threshold: t[0].data.thresholdUsd },
      { spend: '1.150000001', forecast: '1', threshold: '1.15' },
    );

    // Raise the forecast: the config reload re-evaluates and clears.
    writeFileSync(join(e.configDir, 'tenants.yaml'), tenantsYaml('2.00'));
    await waitFor('cleared', async () => ((await api(e, '/v1/guardrails', KEYS.g)).body.items[0].tripped === false ? true : undefined), 20_000, 50);
    const all = await readTopic(kafka, e.controlTopic, (recs) => {
      const evs = recs.map((r) => decode(r.value)).filter((d) => d.ok).map((d) => (d as { event: any }).event);
      return evs.some((x) => x.type === 'agentplane.budget.guardrail.cleared') ? evs : undefined;
    });
    assert.deepEqual(all.map((x) => x.type), ['agentplane.budget.guardrail.tripped', 'agentplane.budget.guardrail.cleared']);
    assert.equal(all[1].data.thresholdUsd, '2.3');
    const prom = await (await fetch(`${e.base}/metrics`)).text();
    assert.match(prom, /agentplane_budget_guardrail_tripped\{[^}]*tenant="t-g"[^}]*\} 0/);
  });

  test('projections rebuild (CLI) equals live; live handling goes on after it without double counting', async () => {
    await waitCommittedOffsets();
    const live = await projectionChecksum(e.pg);
    const cli = spawnSync(process.execPath, ['--enable-source-maps', resolve(DIST, 'apps/cli/src/main.js'), 'projections', 'rebuild', '--json'], {
      env: { ...process.env, ...e.env, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    const report = JSON.parse(cli.stdout);
    assert.equal(report.checksum, live.checksum, JSON.stringify({ live: live.tables, rebuilt: (await projectionChecksum(e.pg)).tables }));
    assert.ok(report.duplicates >= 6, 'the redelivered duplicates were dropped in the rebuild too');

    // The live service continues from the rebuilt checkpoints.
    await publish(e, [step('t-b', 's-b2', 1, 'llama-3.1-8b', 1_000_000, 1_000_000)]); // 0.05 + 0.08
    await waitFor('s-b2 booked', async () => ((await api(e, '/v1/sessions/s-b2', KEYS.b)).body?.totalUsd === '0.13' ? true : undefined), 20_000, 50);
    const b = (await api(e, '/v1/tenants', KEYS.b)).body.items[0];
    assert.equal(b.totalUsd, '0.1755');
  });

  test('what-if reprices a period without touching live projections', async () => {
    const before = await projectionChecksum(e.pg);
    const file = join(e.configDir, 'whatif.yaml');
    writeFileSync(file, 'version: 2\nmodels:\n  gpt-4o-mini: { inputPer1M: "0.30", outputPer1M: "1.20" }\n');
    const cli = spawnSync(process.execPath, [resolve(DIST, 'apps/cli/src/main.js'), 'cost', 'whatif', '--prices', file, '--tenant', 't-a', '--format', 'json'], {
      env: { ...process.env, ...e.env }, encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(cli.status, 0, cli.stderr);
    const r = JSON.parse(cli.stdout);
    const gpt = r.rows.find((x: { model: string }) => x.model === 'gpt-4o-mini');
    assert.equal(gpt.actualUsd, '0.41816655');
    assert.equal(gpt.whatIfUsd, '0.8363331'); // doubled prices, rounded per entry
    const llama = r.rows.find((x: { model: string }) => x.model === 'llama-3.1-8b');
    assert.equal(llama.whatIfUsd, llama.actualUsd, 'a model the new table lacks keeps its booked cost');
    assert.deepEqual(r.unpricedModels, ['llama-3.1-8b']);
    assert.equal(r.totals.actualUsd, '0.80886655');
    assert.equal((await projectionChecksum(e.pg)).checksum, before.checksum);
  });

  test('the same events in another interleaving across partitions rebuild to the same projections', async () => {
    const events = knownWorkload();
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 't-cost-interleave', logLevel: 'nothing' });
    const results: string[] = [];
    for (const [i, layout] of [[1, 'reversed'], [5, 'shuffled']] as const) {
      const topic = `${e.prefix}.interleave-${i}`;
      await e.admin.createTopics([topic], i);
      const order = layout === 'reversed' ? [...events].reverse() : [...events].sort((x, y) => x.id.localeCompare(y.id));
      // Spread over partitions by event id rather than session: a session's events interleave across partitions.
      for (const [n, x] of order.entries()) await e.producer.publish(topic, x, { key: `${n % 7}-${x.id}` });
      const schema = `${e.schema}_il${i}`;
      extraSchemas.push(schema);
      const db = new Client({ connectionString: DATABASE_URL, options: `-c search_path="${schema}"` });
      await db.connect();
      try {
        await db.query(`CREATE SCHEMA "${schema}"`);
        for (const t of [...PROJECTION_TABLES.map((x) => x.name), 'processed_events', 'projection_offsets', 'price_tables']) {
          await db.query(`CREATE TABLE "${schema}".${t} (LIKE "${e.schema}".${t} INCLUDING ALL)`);
        }
        await db.query(`INSERT INTO price_tables SELECT * FROM "${e.schema}".price_tables`);
        const prices: PriceBook = await loadPriceBook(db);
        const r = await rebuildProjections({ kafka, db, prices, topics: [topic] });
        assert.equal(r.projected, events.length);
        results.push((await projectionChecksum(db)).checksum);
      } finally {
        await db.end();
      }
    }
    assert.equal(results[0], results[1]);
    assert.ok(LEDGER.name);
  });
});
