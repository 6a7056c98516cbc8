// One of two racing writers (store.spec.ts): appends its events one call at a time to the same
// session as the other process, after both said "ready" and got "go" on stdin.
import { createInterface } from 'node:readline';
import { makeEvent, deterministicEventId, type AgentplaneEvent } from '@agentplane/contracts';
import { AuditStore } from '@agentplane/audit';

const [schema, sessionId, who, countRaw, sharedRaw] = process.argv.slice(2);
const count = Number(countRaw);
const shared = Number(sharedRaw);

function deferred(name: string, i: number): AgentplaneEvent {
  return makeEvent(
    'agentplane.tool.call.deferred',
    { tenantId: 'acme', sessionId, callId: `c-${name}-${i}`, tool: 'search', reason: `writer ${name}`, retryAfterMs: i },
    { source: 'rate-limiter', id: deterministicEventId('race', sessionId, name, i), time: '2026-01-15T09:00:00.000Z' },
  );
}

async function main(): Promise<void> {
  const store = AuditStore.open({ databaseUrl: process.env.DATABASE_URL!, schema, role: 'agentplane_audit_writer', max: 2 });
  await store.currentRole(); // connected
  const mine = Array.from({ length: count }, (_, i) => deferred(who, i));
  const both = Array.from({ length: shared }, (_, i) => deferred('shared', i));
  // Interleave: the shared events are offered by both writers at the same time.
  const order: AgentplaneEvent[] = [];
  for (let i = 0; i < Math.max(mine.length, both.length); i++) {
    if (mine[i]) order.push(mine[i]);
    if (both[i]) order.push(both[i]);
  }
  process.stdout.write('ready\n');
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((ok) => rl.once('line', () => ok()));
  rl.close();
  let inserted = 0;
  for (const e of order) if ((await store.append([e]))[0].inserted) inserted++;
  await store.close();
  process.stdout.write(`done ${inserted}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
