import type { KeyObject } from 'node:crypto';
import { decode, type AgentplaneEvent } from '@agentplane/contracts';
import { canonicalJson, hex } from './canonical';
import { verifyChain, type ChainReport } from './chain';
import { verifyCheckpointSignature, type SignedCheckpoint } from './checkpoint';
import { MerkleLog, leafHash, verifyConsistency } from './merkle';
import type { LogRecord } from './kafka-log';
import type { AuditStore, StoredEvent } from './store';

export interface Finding {
  /** chain | checkpoint | held-checkpoint | kafka */
  readonly check: string;
  readonly streamId?: string;
  /** First bad position in the stream. */
  readonly position?: number;
  readonly message: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  streams: number;
  treeSize: number;
  rootHash: string;
  checkpointsChecked: number;
  kafkaRecordsChecked?: number;
  findings: Finding[];
  /** Set when a held checkpoint was checked: the proof that the log only grew since. */
  consistency?: { fromSize: number; toSize: number; proof: string[]; verified: boolean };
}

export interface VerifyOptions {
  /** Only this stream's chain (the Merkle and checkpoint checks still cover the whole log). */
  streamId?: string;
  /** Keys whose checkpoints are accepted. */
  trustedKeys: readonly KeyObject[];
  /** A checkpoint the auditor kept from earlier. */
  held?: SignedCheckpoint;
  /** Records read from Kafka that must all be in the store. */
  kafkaRecords?: readonly LogRecord[];
  /** Stop listing chain failures after this many (default 20). */
  maxFindings?: number;
}

/** Loads every leaf (append order) into a MerkleLog. */
export async function loadMerkleLog(store: AuditStore, log = new MerkleLog(), afterSeq = '0'): Promise<{ log: MerkleLog; lastSeq: string }> {
  let last = afterSeq;
  for await (const page of store.scanCanon({ afterSeq })) {
    for (const c of page.canons) log.append(leafHash(c));
    last = page.seqs[page.seqs.length - 1];
  }
  return { log, lastSeq: last };
}

/**
 * Everything an auditor checks: each stream's hash chain (naming the first bad position), each
 * stored checkpoint's signature and root against the events now in the store, a held checkpoint
 * (older backups restored, or history rewritten, show up here), and optionally that every record
 * on Kafka is in the store.
 */
export async function verifyStore(store: AuditStore, o: VerifyOptions): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const max = o.maxFindings ?? 20;
  let events = 0;
  let streams = 0;

  const check = (streamId: string, rows: StoredEvent[]): void => {
    streams++;
    events += rows.length;
    const r: ChainReport = verifyChain(streamId, rows);
    if (!r.ok && r.problem && findings.length < max) {
      findings.push({ check: 'chain', streamId, position: r.problem.position, message: `stream ${streamId} position ${r.problem.position}: ${r.problem.reason}` });
    }
  };
  if (o.streamId !== undefined) {
    check(o.streamId, await store.stream(o.streamId));
  } else {
    let current: string | null = null;
    let rows: StoredEvent[] = [];
    for await (const page of store.scanByStream()) {
      for (const row of page) {
        if (row.streamId !== current) {
          if (current !== null) check(current, rows);
          current = row.streamId;
          rows = [];
        }
        rows.push(row);
      }
    }
    if (current !== null) check(current, rows);
  }

  // The Merkle tree over the whole log, in append order.
  const { log } = await loadMerkleLog(store);
  const size = log.size;
  const root = log.root();

  const checkCheckpoint = (signed: SignedCheckpoint, what: string, label: string): boolean => {
    const sig = verifyCheckpointSignature(signed, o.trustedKeys);
    if (!sig.ok) {
      findings.push({ check: label, message: `${what}: rejected: ${sig.reason}` });
      return false;
    }
    const c = signed.checkpoint;
    if (c.treeSize > size) {
      findings.push({
        check: label,
        message: `${what} attests ${c.treeSize} events but the store holds ${size}: events were removed or an older backup was restored`,
      });
      return false;
    }
    if (hex(log.root(c.treeSize)) !== c.rootHash) {
      findings.push({
        check: label,
        message: `${what}: the first ${c.treeSize} events no longer hash to its root ${c.rootHash.slice(0, 16)}…: history was rewritten (edited, removed, reordered or inserted events)`,
      });
      return false;
    }
    return true;
  };

  const stored = await store.checkpoints();
  let lastGood = 0;
  for (const cp of stored) {
    if (checkCheckpoint(cp.signed, `stored checkpoint #${cp.seq} (tree size ${cp.signed.checkpoint?.treeSize})`, 'checkpoint')) {
      lastGood = Math.max(lastGood, cp.signed.checkpoint.treeSize);
    } else if (findings.length >= max) break;
  }
  void lastGood;

  let consistency: VerifyReport['consistency'];
  if (o.held) {
    const ok = checkCheckpoint(o.held, `held checkpoint (tree size ${o.held.checkpoint?.treeSize}, ${o.held.checkpoint?.time})`, 'held-checkpoint');
    if (ok) {
      const from = o.held.checkpoint.treeSize;
      const proof = log.consistencyProof(from, size);
      const verified = verifyConsistency(from, size, Buffer.from(o.held.checkpoint.rootHash, 'hex'), root, proof);
      consistency = { fromSize: from, toSize: size, proof: proof.map(hex), verified };
      if (!verified) findings.push({ check: 'held-checkpoint', message: 'consistency proof from the held checkpoint does not verify' });
    }
  }

  let kafkaRecordsChecked: number | undefined;
  if (o.kafkaRecords) {
    kafkaRecordsChecked = o.kafkaRecords.length;
    findings.push(...(await checkKafka(store, o.kafkaRecords, o.streamId, max)));
  }

  return { ok: findings.length === 0, events, streams, treeSize: size, rootHash: hex(root), checkpointsChecked: stored.length, ...(kafkaRecordsChecked !== undefined ? { kafkaRecordsChecked } : {}), findings, ...(consistency ? { consistency } : {}) };
}

/** Every decodable record must be stored with the same canonical content; every undecodable one must have a dead letter. */
async function checkKafka(store: AuditStore, records: readonly LogRecord[], streamId: string | undefined, max: number): Promise<Finding[]> {
  const findings: Finding[] = [];
  const decoded: Array<{ r: LogRecord; e: AgentplaneEvent }> = [];
  const undecodable: LogRecord[] = [];
  for (const r of records) {
    const d = decode(r.value, r.headers);
    if (d.ok) {
      if (streamId === undefined || d.event.subject === streamId) decoded.push({ r, e: d.event });
    } else if (streamId === undefined) undecodable.push(r);
  }
  for (let i = 0; i < decoded.length && findings.length < max; i += 5000) {
    const chunk = decoded.slice(i, i + 5000);
    const stored = await store.byEventIds(chunk.map((x) => x.e.id));
    for (const { r, e } of chunk) {
      const s = stored.get(e.id);
      const where = `${r.topic}/${r.partition}@${r.offset}`;
      if (!s) findings.push({ check: 'kafka', message: `${where}: event ${e.id} (${e.type}, subject ${e.subject}) is on Kafka but not in the store` });
      else if (s.canon !== canonicalJson(e)) {
        findings.push({ check: 'kafka', streamId: s.streamId, position: s.position, message: `${where}: event ${e.id} differs from stream ${s.streamId} position ${s.position}` });
      }
      if (findings.length >= max) break;
    }
  }
  if (undecodable.length > 0 && findings.length < max) {
    const subjects = undecodable.map((r) => `${r.topic}/${r.partition}/${r.offset}`);
    const have = await store.deadLetteredSubjects(subjects);
    for (const s of subjects) {
      if (!have.has(s) && findings.length < max) findings.push({ check: 'kafka', message: `${s}: undecodable record with no dead letter in the store` });
    }
  }
  return findings;
}
