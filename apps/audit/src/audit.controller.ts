import { BadRequestException, Controller, Get, Header, NotFoundException, Param, ParseIntPipe, Post, Query, DefaultValuePipe } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { AuditStore, hex, leafHash, replaySession, verifyChain, verifyInclusion, verifyConsistency, type StoredEvent } from '@agentplane/audit';
import { Checkpointer } from './checkpointer';

const view = (e: StoredEvent) => ({
  position: e.position,
  globalSeq: e.globalSeq,
  eventId: e.eventId,
  type: e.type,
  time: e.time,
  recordedAt: e.recordedAt,
  prevHash: hex(e.prevHash),
  hash: hex(e.hash),
  event: JSON.parse(e.canon) as unknown,
});

/** The auditor's HTTP API (docs/audit.md): events, time travel, verification, checkpoints and proofs. */
@ApiTags('audit')
@Controller('v1/audit')
export class AuditController {
  constructor(
    private readonly store: AuditStore,
    private readonly checkpointer: Checkpointer,
  ) {}

  @Get('streams/:streamId/events')
  @ApiOperation({ summary: "A stream's events in chain order (a session id, or tenant/<id>, tool/<name>, dead-letters/<topic>)" })
  @ApiParam({ name: 'streamId' })
  @ApiQuery({ name: 'from', required: false, description: 'first position (1-based)' })
  @ApiQuery({ name: 'limit', required: false })
  async events(
    @Param('streamId') streamId: string,
    @Query('from', new DefaultValuePipe(1), ParseIntPipe) from: number,
    @Query('limit', new DefaultValuePipe(1000), ParseIntPipe) limit: number,
  ) {
    const rows = await this.store.stream(streamId, { from, limit: Math.min(Math.max(limit, 1), 10_000) });
    return { streamId, from, count: rows.length, events: rows.map(view) };
  }

  @Get('sessions/:sessionId/events')
  @ApiOperation({ summary: "A session's events in chain order, with positions and chain hashes" })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'limit', required: false })
  sessionEvents(
    @Param('sessionId') sessionId: string,
    @Query('from', new DefaultValuePipe(1), ParseIntPipe) from: number,
    @Query('limit', new DefaultValuePipe(1000), ParseIntPipe) limit: number,
  ) {
    return this.events(sessionId, from, limit);
  }

  @Get('sessions/:sessionId/state')
  @ApiOperation({ summary: 'The session state after event N (default: all), folded by the pure session decider; no planner or tool is called' })
  @ApiQuery({ name: 'at', required: false })
  @ApiQuery({ name: 'timeline', required: false, description: 'include the timeline (true/false)' })
  async state(@Param('sessionId') sessionId: string, @Query('at') at?: string, @Query('timeline') timeline?: string) {
    const rows = await this.store.stream(sessionId);
    if (rows.length === 0) throw new NotFoundException(`no events for session ${sessionId}`);
    const n = at === undefined ? undefined : Number(at);
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new BadRequestException('at must be a non-negative integer');
    const r = replaySession(
      sessionId,
      rows.map((e) => ({ event: JSON.parse(e.canon) as AgentplaneEvent, position: e.position, hash: hex(e.hash) })),
      { ...(n !== undefined ? { at: n } : {}), timeline: timeline === 'true' },
    );
    return { sessionId, at: r.at, total: r.total, state: r.state, ...(timeline === 'true' ? { timeline: r.timeline } : {}) };
  }

  @Get('streams/:streamId/verify')
  @ApiOperation({ summary: "Recomputes a stream's hash chain; names the first bad position" })
  async verifyStream(@Param('streamId') streamId: string) {
    return verifyChain(streamId, await this.store.stream(streamId));
  }

  @Get('sessions/:sessionId/verify')
  @ApiOperation({ summary: "Recomputes a session's hash chain; names the first bad position" })
  verifySession(@Param('sessionId') sessionId: string) {
    return this.verifyStream(sessionId);
  }

  @Get('checkpoint')
  @ApiOperation({ summary: 'The latest signed checkpoint {treeSize, rootHash, time, keyId} + ed25519 signature' })
  async checkpoint() {
    const c = await this.store.latestCheckpoint();
    if (!c) throw new NotFoundException('no checkpoint yet');
    return c;
  }

  @Post('checkpoints')
  @ApiOperation({ summary: 'Signs a checkpoint of the log as it is now and returns it' })
  async newCheckpoint() {
    return this.checkpointer.checkpoint(true);
  }

  @Get('public-key')
  @ApiOperation({ summary: 'The ed25519 public key that signs checkpoints (PEM) and its key id' })
  publicKey() {
    return { keyId: this.checkpointer.keyId, algorithm: 'ed25519', publicKeyPem: this.checkpointer.publicKeyPem };
  }

  @Get('public-key.pem')
  @Header('content-type', 'application/x-pem-file')
  publicKeyFile(): string {
    return this.checkpointer.publicKeyPem;
  }

  @Get('proofs/inclusion')
  @ApiOperation({ summary: 'RFC 6962 inclusion proof of an event in the tree of the given size (default: current)' })
  @ApiQuery({ name: 'eventId' })
  @ApiQuery({ name: 'treeSize', required: false })
  async inclusion(@Query('eventId') eventId: string, @Query('treeSize') treeSize?: string) {
    const leaf = await this.store.leafIndexOf(eventId).catch(() => null);
    if (!leaf) throw new NotFoundException(`event ${eventId} is not in the store`);
    const tree = await this.checkpointer.treeNow();
    const size = treeSize === undefined ? tree.size : Number(treeSize);
    if (!(Number.isInteger(size) && size > leaf.index && size <= tree.size)) throw new BadRequestException(`treeSize must be in ${leaf.index + 1}..${tree.size}`);
    const proof = tree.inclusionProof(leaf.index, size);
    const lh = leafHash(leaf.canon);
    const root = tree.root(size);
    return { eventId, leafIndex: leaf.index, treeSize: size, leafHash: hex(lh), rootHash: hex(root), proof: proof.map(hex), verified: verifyInclusion(leaf.index, size, lh, proof, root) };
  }

  @Get('proofs/consistency')
  @ApiOperation({ summary: 'RFC 6962 consistency proof: the tree of size `from` is a prefix of the tree of size `to` (default: current)' })
  @ApiQuery({ name: 'from' })
  @ApiQuery({ name: 'to', required: false })
  async consistency(@Query('from', ParseIntPipe) from: number, @Query('to') toRaw?: string) {
    const tree = await this.checkpointer.treeNow();
    const to = toRaw === undefined ? tree.size : Number(toRaw);
    if (!(Number.isInteger(to) && from >= 0 && from <= to && to <= tree.size)) throw new BadRequestException(`need 0 <= from <= to <= ${tree.size}`);
    const proof = tree.consistencyProof(from, to);
    const r1 = tree.root(from);
    const r2 = tree.root(to);
    return { from, to, fromRoot: hex(r1), toRoot: hex(r2), proof: proof.map(hex), verified: verifyConsistency(from, to, r1, r2, proof) };
  }
}
