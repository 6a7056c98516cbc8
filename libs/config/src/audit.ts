import { ConfigError, type Env } from './config';

/** Audit-only settings (docs/audit.md). Kept apart from ServiceConfig like the planner's. */
export interface AuditSettings {
  /** ed25519 private key (PKCS#8 PEM) that signs checkpoints. */
  readonly signingKeyFile: string;
  /** Generate the key when the file is absent (local runs); turn off in production. */
  readonly createSigningKey: boolean;
  /** How often a signed checkpoint is taken when the log grew; 0 = never. */
  readonly checkpointIntervalMs: number;
  /** Role the service writes as (SELECT + INSERT only); null = the connecting user. */
  readonly dbRole: string | null;
}

export function loadAuditSettings(env: Env = process.env): AuditSettings {
  const problems: string[] = [];
  const str = (n: string): string | undefined => (env[n] === undefined || env[n]!.trim() === '' ? undefined : env[n]!.trim());
  const intervalRaw = str('AUDIT_CHECKPOINT_INTERVAL_MS');
  let checkpointIntervalMs = 10_000;
  if (intervalRaw !== undefined) {
    const v = Number(intervalRaw);
    if (!Number.isInteger(v) || v < 0 || v > 86_400_000) problems.push(`AUDIT_CHECKPOINT_INTERVAL_MS: expected an integer 0..86400000, got "${intervalRaw}"`);
    else checkpointIntervalMs = v;
  }
  const createRaw = (str('AUDIT_SIGNING_KEY_CREATE') ?? 'true').toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(createRaw)) problems.push(`AUDIT_SIGNING_KEY_CREATE: expected true or false, got "${createRaw}"`);
  const role = str('AUDIT_DB_ROLE') ?? 'agentplane_audit_writer';
  if (role !== 'none' && !/^[a-z_][a-z0-9_]{0,62}$/.test(role)) problems.push(`AUDIT_DB_ROLE: a lower-case role name or "none", got "${role}"`);
  if (problems.length > 0) throw new ConfigError('audit', problems);
  return Object.freeze({
    signingKeyFile: str('AUDIT_SIGNING_KEY_FILE') ?? '.agentplane/audit-signing-key.pem',
    createSigningKey: ['true', '1', 'yes'].includes(createRaw),
    checkpointIntervalMs,
    dbRole: role === 'none' ? null : role,
  });
}
