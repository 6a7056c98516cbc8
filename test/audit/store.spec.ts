/**
 * The store on the real Postgres: two racing writers, the database's own protection (trigger,
 * writer role), and tampering as a superuser who bypasses the trigger — verify names the place.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import type { Client } from 'pg';
import { AuditStore, SessionFolder, canonicalJson, chainHash, generateSigningKey, hex, loadMerkleLog, signCheckpoint, synthesizeSession, verifyStore, type VerifyReport } from '@agentplane/audit';
import { SAMPLE_DATA, makeEvent, type AgentplaneEvent } from '@agentplane/contracts';
import { fold } from '@agentplane/session';
import { DATABASE_URL, DIST, dropSchema, migrate, schemaName, superuser, writerStore } from './support';

const schemas: string[] = [];
const stores: AuditStore[] = [];
const clients: Client[] = [];

after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const c of clients) await c.end().catch(() => undefined);
  for (const s of schemas) await dropSchema(s);
});

/** A migrated, empty schema of its own and its writer store (both dropped after the file). */
async function emptyStore(tag: string): Promise<{ schema: string; store: AuditStore }> {
  const schema = schemaName(tag);
  schemas.push(schema);
  await migrate(schema);
  const store = writerStore(schema);
  stores.push(store);
  return { schema, store };
}

/** A migrated schema holding three 40-event sessions; returns the writer store and a superuser. */
async function seeded(tag: string): Promise<{ schema: string; store: AuditStore; su: Client }> {
  const { schema, store } = await emptyStore(tag);
  for (const id of ['sess-a', 'sess-b', 'sess-c']) await store.append(synthesizeSession({ sessionId: id, events: 40 }).events);
  const su = await superuser(schema);
  clients.push(su);
  return { schema, store, su };
}

/** As superuser with triggers off: what the trigger cannot stop. */
async function tamper(su: Client, ...sql: string[]): Promise<void> {
  await su.query('BEGIN');
  await su.query(`SET LOCAL session_replication_role = replica`);
  for (const q of sql) await su.query(q);
  await su.query('COMMIT');
}

function firstChainFinding(r: VerifyReport) {
  assert.equal(r.ok, false, 'verify must fail');
  const f = r.findings.find((x) => x.check === 'chain');
  assert.ok(f, `a chain finding, got ${JSON.stringify(r.findings)}`);
  return f;
}

describe('audit store: database protection', () => {
  it('given the writer role, when it updates, deletes or truncates, then Postgres refuses', async () => {
    const { store } = await seeded('role');
    assert.equal(await store.currentRole(), 'agentplane_audit_writer');
    for (const q of [`UPDATE events SET type = 'x'`, `DELETE FROM events`, `TRUNCATE events`, `DELETE FROM checkpoints`]) {
      await assert.rejects(store.pool.query(q), /permission denied/, q);
    }
  });

  it('given the superuser, when it updates, deletes or truncates with triggers on, then the trigger refuses', async () => {
    const { su } = await seeded('trigger');
    for (const q of [`UPDATE events SET type = 'x'`, `DELETE FROM events WHERE position = 3`, `TRUNCATE events`, `TRUNCATE checkpoints`]) {
      await assert.rejects(su.query(q), /append-only/, q);
    }
  });
});

describe('audit store: two writers racing on one session', () => {
  it('given two OS processes appending to one session at once (some events offered by both), then one position each, no gap, no duplicate', async () => {
    const schema = schemaName('race');
    schemas.push(schema);
    await migrate(schema);
    const start = (who: string) => {
      const child = spawn(process.execPath, [resolve(DIST, 'test/audit/writer-process.js'), schema, 'sess-race', who, '150', '50'], {
        env: { ...process.env, DATABASE_URL },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const lines = createInterface({ input: child.stdout! });
      const seen: string[] = [];
      const waitFor = (prefix: string) =>
        new Promise<string>((ok, fail) => {
          const hit = seen.find((l) => l.startsWith(prefix));
          if (hit) return ok(hit);
          lines.on('line', (l) => l.startsWith(prefix) && ok(l));
          child.once('exit', (code) => fail(new Error(`writer ${who} exited ${code} before "${prefix}"`)));
        });
      lines.on('line', (l) => seen.push(l));
      return { child, waitFor };
    };
    const a = start('a');
    const b = start('b');
    await Promise.all([a.waitFor('ready'), b.waitFor('ready')]);
    a.child.stdin!.write('go\n');
    b.child.stdin!.write('go\n');
    const [da, db] = await Promise.all([a.waitFor('done'), b.waitFor('done')]);
    const inserted = Number(da.split(' ')[1]) + Number(db.split(' ')[1]);
    assert.equal(inserted, 350, 'each event inserted exactly once across both writers');

    const su = await superuser(schema);
    clients.push(su);
    const r = await su.query<{ n: string; min: number; max: number; distinct_pos: string; distinct_ids: string }>(
      `SELECT count(*)::text AS n, min(position) AS min, max(position) AS max, count(DISTINCT position)::text AS distinct_pos, count(DISTINCT event_id)::text AS distinct_ids FROM events WHERE stream_id = 'sess-race'`,
    );
    assert.deepEqual(r.rows[0], { n: '350', min: 1, max: 350, distinct_pos: '350', distinct_ids: '350' });
    const store = writerStore(schema);
    stores.push(store);
    const report = await verifyStore(store, { trustedKeys: [] });
    assert.deepEqual(report.findings, []);
  });
});

describe('audit store: tampering as superuser, bypassing the trigger', () => {
  let key: ReturnType<typeof generateSigningKey>;
  before(() => {
    key = generateSigningKey();
  });

  it('given an edited event, then verify fails naming its position', async () => {
    const { store, su } = await seeded('edit');
    const [{ p }] = (await su.query<{ p: number }>(`SELECT min(position) AS p FROM events WHERE stream_id = 'sess-b' AND type = 'agentplane.tool.call.succeeded'`)).rows;
    // A tool call made cheaper after the fact.
    await tamper(su, `UPDATE events SET canon = replace(canon, '"costUsd":"0.0005"', '"costUsd":"0.0001"') WHERE stream_id = 'sess-b' AND position = ${p}`);
    const f = firstChainFinding(await verifyStore(store, { trustedKeys: [] }));
    assert.equal(f.streamId, 'sess-b');
    assert.equal(f.position, p);
    assert.match(f.message, /altered/);
  });

  it('given a deleted event, then verify fails naming the missing position', async () => {
    const { store, su } = await seeded('delete');
    await tamper(su, `DELETE FROM events WHERE stream_id = 'sess-a' AND position = 12`);
    const f = firstChainFinding(await verifyStore(store, { trustedKeys: [] }));
    assert.equal(f.streamId, 'sess-a');
    assert.equal(f.position, 12);
    assert.match(f.message, /missing|deleted/);
  });

  it('given two events swapped (reordered), then verify fails naming the first swapped position', async () => {
    const { store, su } = await seeded('reorder');
    await tamper(
      su,
      `UPDATE events SET position = 1000 WHERE stream_id = 'sess-c' AND position = 20`,
      `UPDATE events SET position = 20 WHERE stream_id = 'sess-c' AND position = 21`,
      `UPDATE events SET position = 21 WHERE stream_id = 'sess-c' AND position = 1000`,
    );
    const f = firstChainFinding(await verifyStore(store, { trustedKeys: [] }));
    assert.equal(f.streamId, 'sess-c');
    assert.equal(f.position, 20);
  });

  it('given an inserted event (correctly hashed, later rows renumbered), then verify fails naming the inserted position', async () => {
    const { store, su } = await seeded('insert');
    const [prev] = (await su.query<{ hash: Buffer; canon: string }>(`SELECT hash, canon FROM events WHERE stream_id = 'sess-b' AND position = 30`)).rows;
    const forged = { ...(JSON.parse(prev.canon) as Record<string, unknown>), id: '01900000-0000-7000-8000-00000000f00d' } as { id: string; type: string };
    const canon = canonicalJson(forged);
    await tamper(
      su,
      `UPDATE events SET position = position + 1000 WHERE stream_id = 'sess-b' AND position > 30`,
      `UPDATE events SET position = position - 999 WHERE stream_id = 'sess-b' AND position > 1000`,
    );
    await su.query('BEGIN');
    await su.query(`SET LOCAL session_replication_role = replica`);
    await su.query(
      `INSERT INTO events (event_id, stream_id, position, type, time, canon, prev_hash, hash) VALUES ($1, 'sess-b', 31, $2, now(), $3, $4, $5)`,
      [forged.id, forged.type, canon, prev.hash, chainHash(prev.hash, canon)],
    );
    await su.query('COMMIT');
    const f = firstChainFinding(await verifyStore(store, { trustedKeys: [] }));
    assert.equal(f.streamId, 'sess-b');
    assert.equal(f.position, 31);
    assert.match(f.message, /inserted/);
  });

  it('given a whole chain rewritten consistently (every later hash recomputed), then the signed checkpoint exposes it', async () => {
    const { store, su } = await seeded('rewrite');
    const { log } = await loadMerkleLog(store);
    await store.insertCheckpoint(signCheckpoint(key, { treeSize: log.size, rootHash: hex(log.root()) }));
    assert.equal((await verifyStore(store, { trustedKeys: [key] })).ok, true);
    // Edit position 5 of sess-a and recompute every hash after it: the chain alone looks fine.
    const rows = (await su.query<{ position: number; canon: string; prev_hash: Buffer }>(`SELECT position, canon, prev_hash FROM events WHERE stream_id = 'sess-a' ORDER BY position`)).rows;
    let prev = rows[0].prev_hash;
    const sql: string[] = [];
    for (const r of rows) {
      const canon = r.position === 5 ? r.canon.replace('"source":"agentplane/', '"source":"agentplane/x') : r.canon;
      const h = chainHash(prev, canon);
      sql.push(`UPDATE events SET canon = '${canon.replace(/'/g, "''")}', prev_hash = '\\x${hex(prev)}', hash = '\\x${hex(h)}' WHERE stream_id = 'sess-a' AND position = ${r.position}`);
      prev = h;
    }
    await tamper(su, ...sql);
    const r = await verifyStore(store, { trustedKeys: [key] });
    assert.equal(r.findings.filter((x) => x.check === 'chain').length, 0, 'the chain itself was made consistent');
    assert.equal(r.ok, false);
    assert.match(r.findings[0].message, /stored checkpoint .* history was rewritten/);
  });

  it('given a checkpoint row signed with another key slipped into the table, then verify rejects it', async () => {
    const { store, su } = await seeded('foreigncp');
    const { log } = await loadMerkleLog(store);
    const foreign = signCheckpoint(generateSigningKey(), { treeSize: log.size, rootHash: hex(log.root()) });
    await su.query(`INSERT INTO checkpoints (tree_size, root_hash, key_id, signed) VALUES ($1, $2, $3, $4)`, [log.size, log.root(), foreign.checkpoint.keyId, JSON.stringify(foreign)]);
    const r = await verifyStore(store, { trustedKeys: [key] });
    assert.equal(r.ok, false);
    assert.match(r.findings[0].message, /not a trusted key/);
  });
});

describe('audit store: replay scan', () => {
  it('given sessions interleaved with requests, tenant and tool events, when scanned and folded, then each state is the decider fold of its session', async () => {
    const { store } = await emptyStore('scan');
    const ids = ['sess-a', 'sess-b', 'sess-c', 'sess-d'];
    const sessions = ids.map((id, i) => synthesizeSession({ sessionId: id, events: 40 + 10 * i, tenantId: 'acme' }).events);
    const other = (k: number): AgentplaneEvent[] => [
      makeEvent('agentplane.budget.guardrail.tripped', SAMPLE_DATA['agentplane.budget.guardrail.tripped'], { source: 'cost', time: '2026-01-15T09:00:00.000Z', id: `00000000-0000-4000-8000-0000000000${10 + k}` }),
      makeEvent('agentplane.tool.circuit.changed', SAMPLE_DATA['agentplane.tool.circuit.changed'], { source: 'executor', time: '2026-01-15T09:00:00.000Z', id: `00000000-0000-4000-8000-0000000000${30 + k}` }),
    ];
    // What the gateway records first for every session (on session-requests, in the session's stream).
    const requested = ids.map((sessionId, k) =>
      makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: 'hello' }, { source: 'gateway', time: '2026-01-15T08:59:59.000Z', id: `00000000-0000-4000-8000-0000000000${50 + k}` }),
    );
    await store.append(requested);
    // Interleave the sessions, a few events at a time, as concurrent sessions append.
    for (let at = 0, k = 0; sessions.some((x) => at < x.length); at += 7, k++) {
      for (const x of sessions) if (at < x.length) await store.append(x.slice(at, at + 7));
      if (k < 3) await store.append(other(k));
    }
    const folder = new SessionFolder();
    const n = await store.scanSessionEvents((e) => folder.apply(e));
    assert.equal(folder.events, sessions.reduce((k, x) => k + x.length, 0));
    assert.equal(n, folder.events + requested.length, 'every event of a session stream, none of the others');
    assert.deepEqual([...folder.states.keys()].sort(), ids);
    ids.forEach((id, i) => assert.deepEqual(folder.states.get(id), fold(sessions[i]), id));
    assert.equal(folder.states.get('sess-a')?.status, 'completed');
  });

  it('given a consumer that throws, or a failing query, then the scan rejects with that error and the store still answers', async () => {
    const { schema, store } = await emptyStore('scanstop');
    for (let i = 0; i < 50; i++) await store.append(synthesizeSession({ sessionId: `sess-${i}`, events: 40 }).events);
    let seen = 0;
    await assert.rejects(
      store.scanSessionEvents(() => {
        if (++seen === 100) throw new Error('consumer gave up');
      }),
      /consumer gave up/,
    );
    assert.equal(seen, 100, 'no event after the throw');
    assert.equal(store.pool.totalCount - store.pool.idleCount, 0, 'no client checked out');
    assert.equal(await store.scanSessionEvents(() => undefined), 2000);
    const other = AuditStore.open({ databaseUrl: DATABASE_URL, schema: `${schema}_none`, role: null, max: 1 });
    stores.push(other);
    await assert.rejects(other.scanSessionEvents(() => undefined), /relation "events" does not exist/);
    assert.equal((await other.pool.query('SELECT 1 AS one')).rows[0].one, 1);
  });
});
