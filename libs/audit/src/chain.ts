import { EVENT_TYPES, isEventType, type AgentplaneEvent } from '@agentplane/contracts';
import { canonicalJson, hex, sha256 } from './canonical';

/** h_0 of every stream: 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** h_n = SHA-256(h_{n-1} || UTF-8 bytes of the RFC 8785 canonical JSON of event n). */
export function chainHash(prev: Uint8Array, canon: string): Buffer {
  return sha256(prev, Buffer.from(canon, 'utf8'));
}

/**
 * The chain an event belongs to. Session events chain under their session id; control events
 * under "tenant/<id>" or "tool/<name>"; dead letters under "dead-letters/<source topic>". '/'
 * never occurs in a session id (ID_PATTERN), so the non-session streams cannot collide with one.
 */
export function streamIdOf(event: Pick<AgentplaneEvent, 'type' | 'subject' | 'data'>): string {
  if (!isEventType(event.type)) throw new TypeError(`unknown event type ${event.type}`);
  switch (EVENT_TYPES[event.type].subject) {
    case 'session':
      return event.subject;
    case 'tenant':
      return `tenant/${event.subject}`;
    case 'tool':
      return `tool/${event.subject}`;
    case 'message':
      return `dead-letters/${(event.data as { sourceTopic: string }).sourceTopic}`;
  }
}

export function isSessionStream(streamId: string): boolean {
  return !streamId.includes('/');
}

/** One row of a stream as stored. */
export interface ChainRow {
  readonly position: number;
  readonly eventId: string;
  readonly type: string;
  readonly canon: string;
  readonly prevHash: Uint8Array;
  readonly hash: Uint8Array;
}

export type ChainProblemKind = 'missing' | 'unexpected' | 'link' | 'content' | 'columns' | 'not-canonical';

export interface ChainProblem {
  /** The first position that does not check out. */
  readonly position: number;
  readonly kind: ChainProblemKind;
  readonly reason: string;
}

export interface ChainReport {
  readonly streamId: string;
  readonly ok: boolean;
  /** Rows checked. */
  readonly count: number;
  /** Hash of the last position that checked out (hex); the genesis hash when none. */
  readonly head: string;
  readonly problem?: ChainProblem;
}

/**
 * Recomputes one stream's chain from its rows (ordered by position) and names the first
 * position that is wrong: a gap (deleted row), a row whose prev_hash does not link to its
 * predecessor (reordered or inserted), a row whose content no longer hashes to its stored hash
 * (edited), or columns that disagree with the event they index.
 */
export function verifyChain(streamId: string, rows: Iterable<ChainRow>): ChainReport {
  let prev: Uint8Array = GENESIS_HASH;
  let expected = 1;
  let count = 0;
  const seen = new Map<string, number>([[hex(GENESIS_HASH), 0]]);
  const fail = (problem: ChainProblem): ChainReport => ({ streamId, ok: false, count, head: hex(prev), problem });
  for (const r of rows) {
    count++;
    if (r.position !== expected) {
      return r.position > expected
        ? fail({ position: expected, kind: 'missing', reason: `position ${expected} is missing (next stored is ${r.position}): a row was deleted` })
        : fail({ position: r.position, kind: 'unexpected', reason: `position ${r.position} appears again after ${expected - 1}` });
    }
    if (!Buffer.from(r.prevHash).equals(Buffer.from(prev))) {
      // prev_hash naming an earlier row: the rows after that one were inserted.
      const linked = seen.get(hex(r.prevHash));
      if (linked !== undefined && linked < r.position - 1) {
        return fail({
          position: linked + 1,
          kind: 'link',
          reason: `position ${r.position} links to position ${linked}: position${r.position - linked > 2 ? `s ${linked + 1}..${r.position - 1} were` : ` ${linked + 1} was`} inserted`,
        });
      }
      return fail({
        position: r.position,
        kind: 'link',
        reason: `prev_hash does not link to position ${r.position - 1}: rows were reordered, inserted or deleted here`,
      });
    }
    if (!chainHash(prev, r.canon).equals(Buffer.from(r.hash))) {
      return fail({ position: r.position, kind: 'content', reason: 'hash does not match the stored event: its content was altered' });
    }
    let event: { id?: unknown; type?: unknown; subject?: unknown; data?: unknown };
    try {
      event = JSON.parse(r.canon) as typeof event;
      if (canonicalJson(event) !== r.canon) {
        return fail({ position: r.position, kind: 'not-canonical', reason: 'stored text is not RFC 8785 canonical JSON' });
      }
    } catch {
      return fail({ position: r.position, kind: 'not-canonical', reason: 'stored text is not JSON' });
    }
    let stream: string | undefined;
    try {
      stream = streamIdOf(event as AgentplaneEvent);
    } catch {
      stream = undefined;
    }
    if (event.id !== r.eventId || event.type !== r.type || stream !== streamId) {
      return fail({ position: r.position, kind: 'columns', reason: 'event_id, type or stream columns disagree with the stored event' });
    }
    prev = r.hash;
    seen.set(hex(r.hash), r.position);
    expected++;
  }
  return { streamId, ok: true, count, head: hex(prev) };
}
