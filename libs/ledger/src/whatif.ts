import { decimalFromUnits, decimalToUnits } from '@agentplane/contracts';
import type { ModelPriceEntry, PriceVersion } from './price-book';
import { PriceBook } from './price-book';
import type { Sql } from './sql';

// ---- recorded price tables -------------------------------------------------------------

/** Every recorded prices.yaml version: the PriceBook both live pricing and rebuilds use. */
export async function loadPriceBook(db: Sql): Promise<PriceBook> {
  const r = await db.query<{ version: number; models: Record<string, ModelPriceEntry>; effective_from: Date }>(
    `SELECT version, models, effective_from FROM price_tables ORDER BY effective_from, version`,
  );
  return new PriceBook(r.rows.map((x) => ({ version: x.version, models: x.models, effectiveFromMs: x.effective_from.getTime() })));
}

export interface RecordResult {
  readonly recorded: boolean;
  /** The file's content differs from what was recorded for its version (edit without a version bump). */
  readonly conflict: boolean;
}

/**
 * Records a prices.yaml version the first time it is seen, effective from now. Versions are
 * immutable once recorded: changed prices need a new `version`, else replays would differ.
 */
export async function recordPriceTable(db: Sql, table: { version: number; models: Readonly<Record<string, ModelPriceEntry>> }, source: string, nowMs = Date.now()): Promise<RecordResult> {
  const ins = await db.query(
    `INSERT INTO price_tables (version, models, effective_from, source) VALUES ($1, $2::jsonb, $3, $4) ON CONFLICT (version) DO NOTHING RETURNING version`,
    [table.version, JSON.stringify(table.models), new Date(nowMs).toISOString(), source],
  );
  if (ins.rows.length === 1) return { recorded: true, conflict: false };
  const cur = await db.query<{ models: Record<string, ModelPriceEntry> }>(`SELECT models FROM price_tables WHERE version = $1`, [table.version]);
  return { recorded: false, conflict: !samePrices(cur.rows[0]?.models ?? {}, table.models) };
}

function samePrices(a: Readonly<Record<string, ModelPriceEntry>>, b: Readonly<Record<string, ModelPriceEntry>>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join('\u0000') !== kb.join('\u0000')) return false;
  return ka.every((k) => decimalToUnits(a[k].inputPer1M) === decimalToUnits(b[k].inputPer1M) && decimalToUnits(a[k].outputPer1M) === decimalToUnits(b[k].outputPer1M));
}

export type { PriceVersion };

// ---- what-if -----------------------------------------------------------------------------

export interface WhatIfRow {
  tenantId: string;
  kind: 'inference' | 'tool';
  model: string | null;
  tool: string | null;
  entries: number;
  promptTokens: number;
  completionTokens: number;
  actualUsd: string;
  whatIfUsd: string;
  deltaUsd: string;
}

export interface WhatIfResult {
  from: string | null;
  to: string | null;
  priceVersion: number;
  rows: WhatIfRow[];
  totals: { actualUsd: string; whatIfUsd: string; deltaUsd: string };
  /** Models in the period the new table has no price for (kept at their booked amount). */
  unpricedModels: string[];
}

/**
 * Reprices the ledger entries of a period with another price table, per entry with the same
 * rounding as live pricing. Reads only; live projections are untouched. Tool spend is per
 * call from the registry, not from prices.yaml, so it is carried over as booked.
 */
export async function whatIf(
  db: Sql,
  table: { version: number; models: Readonly<Record<string, ModelPriceEntry>> },
  range: { from?: Date; to?: Date; tenantId?: string } = {},
): Promise<WhatIfResult> {
  const r = await db.query<{
    tenant_id: string; kind: 'inference' | 'tool'; model: string | null; tool: string | null; entries: string;
    prompt_tokens: string; completion_tokens: string; actual: string; whatif: string; priced: boolean;
  }>(
    `WITH p AS (
       SELECT key AS model, (value->>'inputPer1M')::numeric AS i, (value->>'outputPer1M')::numeric AS o FROM jsonb_each($1::jsonb)
     )
     SELECT l.tenant_id, l.kind, l.model, l.tool, count(*)::text AS entries,
            coalesce(sum(l.prompt_tokens), 0)::text AS prompt_tokens, coalesce(sum(l.completion_tokens), 0)::text AS completion_tokens,
            sum(l.amount_usd)::text AS actual,
            sum(CASE WHEN l.kind = 'inference' AND p.model IS NOT NULL
                     THEN round((l.prompt_tokens * p.i + l.completion_tokens * p.o) / 1000000, 9)
                     ELSE l.amount_usd END)::text AS whatif,
            bool_and(l.kind <> 'inference' OR p.model IS NOT NULL) AS priced
       FROM ledger_entries l LEFT JOIN p ON p.model = l.model
      WHERE ($2::timestamptz IS NULL OR l.occurred_at >= $2) AND ($3::timestamptz IS NULL OR l.occurred_at < $3)
        AND ($4::text IS NULL OR l.tenant_id = $4)
      GROUP BY l.tenant_id, l.kind, l.model, l.tool
      ORDER BY l.tenant_id COLLATE "C", l.kind, l.model COLLATE "C", l.tool COLLATE "C"`,
    [JSON.stringify(table.models), range.from?.toISOString() ?? null, range.to?.toISOString() ?? null, range.tenantId ?? null],
  );
  let actual = 0n;
  let what = 0n;
  const unpriced = new Set<string>();
  const rows = r.rows.map((x): WhatIfRow => {
    const a = decimalToUnits(x.actual);
    const w = decimalToUnits(x.whatif);
    actual += a;
    what += w;
    if (!x.priced && x.model) unpriced.add(x.model);
    return {
      tenantId: x.tenant_id, kind: x.kind, model: x.model, tool: x.tool, entries: Number(x.entries),
      promptTokens: Number(x.prompt_tokens), completionTokens: Number(x.completion_tokens),
      actualUsd: decimalFromUnits(a), whatIfUsd: decimalFromUnits(w), deltaUsd: decimalFromUnits(w - a),
    };
  });
  return {
    from: range.from?.toISOString() ?? null,
    to: range.to?.toISOString() ?? null,
    priceVersion: table.version,
    rows,
    totals: { actualUsd: decimalFromUnits(actual), whatIfUsd: decimalFromUnits(what), deltaUsd: decimalFromUnits(what - actual) },
    unpricedModels: [...unpriced].sort(),
  };
}
