import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalJson, sha256 } from './canonical';

/** What a checkpoint attests: the log held `treeSize` events whose Merkle root is `rootHash`. */
export interface Checkpoint {
  /** Format tag, so a signature over one format can never be replayed as another. */
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly treeSize: number;
  /** RFC 6962 Merkle tree hash over the first treeSize events in append order, hex. */
  readonly rootHash: string;
  /** RFC 3339 time of signing. */
  readonly time: string;
  /** First 16 hex digits of SHA-256 over the raw 32-byte ed25519 public key. */
  readonly keyId: string;
}

export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** ed25519 over the UTF-8 bytes of canonicalJson(checkpoint), base64. */
  readonly signature: string;
}

export const CHECKPOINT_FORMAT = 'agentplane-audit-checkpoint/v1';

/** The raw 32-byte ed25519 public key (the tail of its SPKI DER). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

export function keyIdOf(key: KeyObject): string {
  return sha256(rawPublicKey(key)).toString('hex').slice(0, 16);
}

export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

export function checkpointBytes(c: Checkpoint): Buffer {
  return Buffer.from(canonicalJson(c), 'utf8');
}

export function signCheckpoint(privateKey: KeyObject, body: { treeSize: number; rootHash: string; time?: string }): SignedCheckpoint {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('checkpoints are signed with an ed25519 key');
  const checkpoint: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    treeSize: body.treeSize,
    rootHash: body.rootHash,
    time: body.time ?? new Date().toISOString(),
    keyId: keyIdOf(privateKey),
  };
  return { checkpoint, signature: sign(null, checkpointBytes(checkpoint), privateKey).toString('base64') };
}

export type CheckpointCheck = { ok: true } | { ok: false; reason: string };

/** Signature check against the keys the verifier trusts (never against a key the checkpoint names). */
export function verifyCheckpointSignature(signed: SignedCheckpoint, trusted: readonly KeyObject[]): CheckpointCheck {
  const c = signed?.checkpoint;
  if (!c || c.format !== CHECKPOINT_FORMAT || !Number.isInteger(c.treeSize) || c.treeSize < 0 || !/^[0-9a-f]{64}$/.test(c.rootHash ?? '')) {
    return { ok: false, reason: 'not an agentplane audit checkpoint' };
  }
  const key = trusted.find((k) => keyIdOf(k) === c.keyId);
  if (!key) return { ok: false, reason: `signed by key ${c.keyId}, which is not a trusted key (${trusted.map(keyIdOf).join(', ') || 'none given'})` };
  let good = false;
  try {
    good = verify(null, checkpointBytes(c), key, Buffer.from(signed.signature, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true } : { ok: false, reason: `signature does not verify under key ${c.keyId}` };
}

/** A PEM file: a private key (PKCS#8) yields its public half too. */
export function readKeyFile(path: string): KeyObject {
  const pem = readFileSync(path, 'utf8');
  const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`${path}: not an ed25519 key`);
  return key;
}

export function generateSigningKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** Loads the ed25519 private key at `path`; with `create`, writes a new one (mode 0600) when absent. */
export function loadSigningKey(path: string, opts: { create?: boolean } = {}): { key: KeyObject; created: boolean } {
  if (!existsSync(path)) {
    if (!opts.create) throw new Error(`audit signing key ${path} does not exist`);
    const key = generateSigningKey();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    return { key, created: true };
  }
  const key = createPrivateKey(readFileSync(path, 'utf8'));
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`${path}: not an ed25519 private key`);
  return { key, created: false };
}
