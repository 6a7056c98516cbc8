import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fold } from '@agentplane/session';
import { canonicalJson } from './canonical';
import { GENESIS_HASH, chainHash, streamIdOf, verifyChain, type ChainRow } from './chain';
import { CHECKPOINT_FORMAT, generateSigningKey, keyIdOf, signCheckpoint, verifyCheckpointSignature } from './checkpoint';
import { EMPTY_ROOT, MerkleLog, leafHash, merkleRoot, nodeHash, verifyConsistency, verifyInclusion } from './merkle';
import { SessionFolder, replaySession } from './replay';
import { makeEvent } from '@agentplane/contracts';
import { synthesizeSession } from './synthetic';

/** MTH straight from RFC 6962 §2.1, recursively, as the reference. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(`event ${i}`));

describe('canonical JSON (RFC 8785)', () => {
  it('given differently ordered and spaced input, when canonicalised, then the bytes are equal', () => {
    assert.equal(canonicalJson({ b: 1, a: [1, { d: 1e21, c: 'x' }] }), canonicalJson(JSON.parse('{ "a" : [1, {"c":"x","d":1E21}], "b":1.0 }')));
    assert.equal(canonicalJson({ b: 1, a: 'é' }), '{"a":"é","b":1}');
  });
});

describe('Merkle tree (RFC 6962)', () => {
  it('given 0..70 leaves, then the incremental root equals the reference definition', () => {
    assert.deepEqual(merkleRoot([]), EMPTY_ROOT);
    for (let n = 0; n <= 70; n++) assert.deepEqual(merkleRoot(leaves(n)), referenceRoot(leaves(n)), `n=${n}`);
  });

  it('given every (leaf, size) up to 40, then inclusion proofs verify and a wrong leaf or root does not', () => {
    const log = new MerkleLog();
    for (const l of leaves(40)) log.append(l);
    for (let n = 1; n <= 40; n++) {
      for (let m = 0; m < n; m++) {
        const p = log.inclusionProof(m, n);
        assert.ok(verifyInclusion(m, n, log.leaf(m), p, log.root(n)), `m=${m} n=${n}`);
        assert.ok(!verifyInclusion(m, n, leafHash('forged'), p, log.root(n)));
        if (n > 1) assert.ok(!verifyInclusion((m + 1) % n, n, log.leaf(m), p, log.root(n)) || log.leaf((m + 1) % n).equals(log.leaf(m)));
      }
    }
  });

  it('given every pair of sizes up to 40, then consistency proofs verify, and not against a rewritten history', () => {
    const log = new MerkleLog();
    for (const l of leaves(40)) log.append(l);
    const forged = new MerkleLog();
    leaves(40).forEach((l, i) => forged.append(i === 3 ? leafHash('edited') : l));
    for (let n = 1; n <= 40; n++) {
      for (let m = 1; m <= n; m++) {
        assert.ok(verifyConsistency(m, n, log.root(m), log.root(n), log.consistencyProof(m, n)), `m=${m} n=${n}`);
        if (m > 3) assert.ok(!verifyConsistency(m, n, log.root(m), forged.root(n), forged.consistencyProof(m, n)), `forged m=${m} n=${n}`);
      }
    }
  });
});

function rowsOf(canons: string[]): ChainRow[] {
  let prev: Buffer = GENESIS_HASH;
  return canons.map((canon, i) => {
    const e = JSON.parse(canon) as { id: string; type: string };
    const hash = chainHash(prev, canon);
    const row = { position: i + 1, eventId: e.id, type: e.type, canon, prevHash: prev, hash };
    prev = hash;
    return row;
  });
}

describe('hash chain', () => {
  const { events } = synthesizeSession({ sessionId: 'sess-chain', events: 20 });
  const rows = rowsOf(events.map(canonicalJson));

  it('given an intact chain, then it verifies', () => {
    const r = verifyChain('sess-chain', rows);
    assert.equal(r.ok, true);
    assert.equal(r.count, 20);
  });

  it('given an edited event, then the first bad position is named', () => {
    const bad = rows.map((r) => (r.position === 7 ? { ...r, canon: r.canon.replace('"source":"agentplane/', '"source":"agentplane/x') } : r));
    assert.deepEqual(verifyChain('sess-chain', bad).problem?.position, 7);
  });

  it('given a deleted, a reordered and an inserted row, then each is named', () => {
    assert.equal(verifyChain('sess-chain', rows.filter((r) => r.position !== 5)).problem?.position, 5);
    const swapped = [...rows.slice(0, 4), { ...rows[5], position: 5 }, { ...rows[4], position: 6 }, ...rows.slice(6)];
    assert.equal(verifyChain('sess-chain', swapped).problem?.position, 5);
    // A well-formed forged row at 9 (correct hash), later rows renumbered but not rehashed.
    const forged = JSON.stringify({ ...JSON.parse(rows[0].canon), id: '00000000-0000-7000-8000-000000000000' });
    const f = canonicalJson(JSON.parse(forged));
    const ins = { position: 9, eventId: '00000000-0000-7000-8000-000000000000', type: rows[0].type, canon: f, prevHash: rows[7].hash, hash: chainHash(rows[7].hash, f) };
    const inserted = [...rows.slice(0, 8), ins, ...rows.slice(8).map((r) => ({ ...r, position: r.position + 1 }))];
    const p = verifyChain('sess-chain', inserted).problem;
    assert.equal(p?.position, 9);
    assert.match(p?.reason ?? '', /inserted/);
  });

  it('maps control events and dead letters to their own streams', () => {
    assert.equal(streamIdOf({ type: 'agentplane.planner.mode.changed', subject: 'acme', data: {} } as never), 'tenant/acme');
    assert.equal(streamIdOf({ type: 'agentplane.message.dead-lettered', subject: 't/0/1', data: { sourceTopic: 't' } } as never), 'dead-letters/t');
  });
});

describe('signed checkpoints', () => {
  const key = generateSigningKey();
  const other = generateSigningKey();
  const signed = signCheckpoint(key, { treeSize: 10, rootHash: 'ab'.repeat(32) });

  it('given a checkpoint signed by a trusted key, then it verifies', () => {
    assert.equal(signed.checkpoint.format, CHECKPOINT_FORMAT);
    assert.equal(signed.checkpoint.keyId, keyIdOf(key));
    assert.deepEqual(verifyCheckpointSignature(signed, [key]), { ok: true });
  });

  it('given another key, an altered body or a forged signature, then it is rejected', () => {
    assert.equal(verifyCheckpointSignature(signCheckpoint(other, { treeSize: 10, rootHash: 'ab'.repeat(32) }), [key]).ok, false);
    assert.equal(verifyCheckpointSignature({ ...signed, checkpoint: { ...signed.checkpoint, treeSize: 11 } }, [key]).ok, false);
    const forged = { checkpoint: { ...signed.checkpoint }, signature: signCheckpoint(other, signed.checkpoint).signature };
    assert.equal(verifyCheckpointSignature(forged, [key]).ok, false);
  });
});

describe('replay', () => {
  it('given a session, when replayed at N, then the state equals the decider fold of the first N events', () => {
    const { events, state } = synthesizeSession({ sessionId: 'sess-r', events: 40 });
    const all = replaySession('sess-r', events.map((event) => ({ event })));
    assert.deepEqual(all.state, state);
    assert.equal(all.timeline.length, 40);
    const at = replaySession('sess-r', events.map((event) => ({ event })), { at: 17 });
    assert.deepEqual(at.state, fold(events.slice(0, 17)));
  });

  it('given sessions whose streams start with session.requested, when folded together, then each state is the fold of its session events', () => {
    const a = synthesizeSession({ sessionId: 'sess-a', events: 40 });
    const b = synthesizeSession({ sessionId: 'sess-b', events: 50 });
    const req = (sessionId: string) => makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: 'hi' }, { source: 'gateway', time: '2026-01-15T08:59:59.000Z' });
    const cancel = makeEvent('agentplane.session.cancel-requested', { tenantId: 'acme', sessionId: 'sess-a' }, { source: 'gateway', time: '2026-01-15T09:00:00.100Z' });
    const folder = new SessionFolder();
    for (const e of [req('sess-a'), req('sess-b'), ...a.events.slice(0, 5), cancel, ...b.events, ...a.events.slice(5)]) folder.apply(e);
    assert.equal(folder.events, 90);
    assert.deepEqual(folder.states.get('sess-a'), a.state);
    assert.deepEqual(folder.states.get('sess-b'), b.state);
  });
});
