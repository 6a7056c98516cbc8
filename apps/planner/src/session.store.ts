import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { initialState, type SessionState } from '@agentplane/session';
import { TransientError } from '@agentplane/messaging';

export interface Loaded {
  readonly state: SessionState;
  /** 0 when the session has no row yet. */
  readonly version: number;
}

/**
 * The planner's projection of sessions in its own schema. Saves are compare-and-set on
 * `version`: a lost race is a retriable error, so the transport redelivers the message and the
 * handler decides again from the fresh state.
 */
@Injectable()
export class SessionStore {
  constructor(private readonly ds: DataSource) {}

  async load(sessionId: string): Promise<Loaded> {
    const rows: Array<{ state: SessionState; version: number }> = await this.ds.query(
      'SELECT state, version FROM sessions WHERE session_id = $1',
      [sessionId],
    );
    return rows.length === 0 ? { state: initialState(), version: 0 } : { state: rows[0].state, version: rows[0].version };
  }

  async save(sessionId: string, state: SessionState, expectedVersion: number): Promise<void> {
    if (state.status === 'none') return;
    const deadline = state.status === 'running' ? state.deadlineAt : null;
    const rows: unknown[] =
      expectedVersion === 0
        ? await this.ds.query(
            `INSERT INTO sessions (session_id, tenant_id, status, deadline_at, state, version)
             VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (session_id) DO NOTHING RETURNING 1`,
            [sessionId, state.tenantId, state.status, deadline, JSON.stringify(state)],
          )
        : await this.ds.query(
            `UPDATE sessions SET status = $2, deadline_at = $3, state = $4, version = version + 1, updated_at = now()
             WHERE session_id = $1 AND version = $5 RETURNING 1`,
            [sessionId, state.status, deadline, JSON.stringify(state), expectedVersion],
          );
    // pg returns [rows, count] for UPDATE ... RETURNING through typeorm's query()
    const n = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : rows.length;
    if (n !== 1) throw new TransientError(`session ${sessionId} was changed concurrently (version ${expectedVersion})`);
  }

  /** Running sessions whose deadline passed, oldest first. */
  async overdue(limit: number): Promise<string[]> {
    const rows: Array<{ session_id: string }> = await this.ds.query(
      `SELECT session_id FROM sessions WHERE status = 'running' AND deadline_at <= now() ORDER BY deadline_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.session_id);
  }
}
