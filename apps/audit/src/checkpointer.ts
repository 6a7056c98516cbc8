import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { AuditSettings } from '@agentplane/config';
import { AuditStore, MerkleLog, hex, keyIdOf, loadMerkleLog, loadSigningKey, publicKeyPem, signCheckpoint, type SignedCheckpoint } from '@agentplane/audit';
import { ReadinessRegistry } from '@agentplane/platform';
import { AUDIT_SETTINGS } from './tokens';

/**
 * Keeps the Merkle tree of the whole log in memory (append order, leaves from the store) and
 * signs a checkpoint every interval when the log grew. Also answers proofs from that tree.
 */
@Injectable()
export class Checkpointer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Checkpointer');
  private tree = new MerkleLog();
  private lastSeq = '0';
  private lastSignedSize = -1;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<unknown> = Promise.resolve();
  private loaded = false;
  readonly key: KeyObject;
  readonly keyId: string;

  constructor(
    private readonly store: AuditStore,
    @Inject(AUDIT_SETTINGS) private readonly settings: AuditSettings,
    readiness: ReadinessRegistry,
  ) {
    const path = resolve(settings.signingKeyFile);
    const { key, created } = loadSigningKey(path, { create: settings.createSigningKey });
    this.key = key;
    this.keyId = keyIdOf(key);
    this.log.log(`${created ? 'created' : 'loaded'} checkpoint signing key ${this.keyId} (${path})`);
    readiness.register('merkle-tree', () => ({ ok: this.loaded, ...(this.loaded ? {} : { detail: 'loading leaves' }) }));
  }

  get publicKeyPem(): string {
    return publicKeyPem(this.key);
  }

  async onApplicationBootstrap(): Promise<void> {
    const latest = await this.store.latestCheckpoint();
    this.lastSignedSize = latest?.checkpoint.treeSize ?? -1;
    await this.refresh();
    this.loaded = true;
    this.log.log(`Merkle tree loaded: ${this.tree.size} events, root ${hex(this.tree.root()).slice(0, 16)}…`);
    if (this.settings.checkpointIntervalMs > 0) this.schedule();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.checkpoint()
        .catch((err: Error) => this.log.warn(`checkpoint failed: ${err.message}`))
        .finally(() => {
          if (this.timer) this.schedule();
        });
    }, this.settings.checkpointIntervalMs);
    this.timer.unref();
  }

  /** Appends leaves stored since the last refresh (serialised: one refresh at a time). */
  refresh(): Promise<MerkleLog> {
    const run = this.busy.then(async () => {
      const r = await loadMerkleLog(this.store, this.tree, this.lastSeq);
      this.lastSeq = r.lastSeq;
      return this.tree;
    });
    this.busy = run.catch(() => undefined);
    return run;
  }

  /** Signs and stores a checkpoint when the log grew since the last one (or when forced). */
  async checkpoint(force = false): Promise<SignedCheckpoint | null> {
    const tree = await this.refresh();
    const size = tree.size;
    if (!force && size === this.lastSignedSize) return null;
    const signed = signCheckpoint(this.key, { treeSize: size, rootHash: hex(tree.root(size)) });
    await this.store.insertCheckpoint(signed);
    this.lastSignedSize = size;
    return signed;
  }

  async treeNow(): Promise<MerkleLog> {
    return this.refresh();
  }
}
