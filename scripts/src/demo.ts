/**
 * The demo of `npm start`: serves the demo tools on 127.0.0.1:7070 (the URLs in config/tools.yaml),
 * runs a batch of sessions through the gateway with a live progress line, prints a summary, and
 * keeps the tools up until Ctrl-C so you can submit your own sessions.
 *
 * Uses the LLM planner when the planner was started with PLANNER_BASE_URL, else declared
 * workflows. Settings: DEMO_SESSIONS (default 40), DEMO_CONCURRENCY (default 8).
 */
import { startToolServer } from '../../test/fixtures/tool-server';

const GATEWAY = process.env.AGENTPLANE_GATEWAY_URL ?? 'http://127.0.0.1:8080';
const KEYS = { acme: 'ap_demo_acme_3f9c2b7e1d4a', globex: 'ap_demo_globex_8a1e6d0c5b72' };
const TOTAL = Number(process.env.DEMO_SESSIONS ?? 40);
const CONCURRENCY = Number(process.env.DEMO_CONCURRENCY ?? 8);
const USE_LLM = Boolean(process.env.PLANNER_BASE_URL);
const TOPICS = ['kafka', 'postgres', 'idempotency', 'circuit breaker', 'rate limit'];

interface Outcome {
  status: string;
  ms: number;
  toolCalls: number;
  costUsd: string;
}

function body(i: number): Record<string, unknown> {
  const topic = TOPICS[i % TOPICS.length];
  if (USE_LLM) return { input: `Find a document about ${topic} and summarise it.` };
  return {
    input: `Find and summarise documents about ${topic}`,
    workflow: {
      steps: [
        { calls: [{ id: 'find', tool: 'search', args: { query: topic, limit: 2 } }] },
        {
          calls: [
            { id: 'doc1', tool: 'fetch_doc', args: { id: '${find.result.results.0.id}' } },
            { id: 'gist', tool: 'summarize', args: { text: '${find.result.results.0.snippet}' } },
          ],
        },
        { calls: [{ id: 'sum', tool: 'summarize', args: { text: '${doc1.result.text}' } }] },
      ],
    },
  };
}

async function runOne(i: number): Promise<Outcome> {
  const key = i % 4 === 3 ? KEYS.globex : KEYS.acme;
  const started = performance.now();
  const auth = { authorization: `Bearer ${key}` };
  const r = await fetch(`${GATEWAY}/v1/sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body(i)),
  });
  let view = (await r.json()) as { sessionId: string; status: string; toolCallCount?: number; costUsd?: string; message?: unknown };
  if (r.status >= 400) return { status: `http ${r.status}`, ms: performance.now() - started, toolCalls: 0, costUsd: '0' };
  // 202: the answer is not ready within the wait budget; follow the Location.
  while (view.status === 'requested' || view.status === 'running') {
    await new Promise((res) => setTimeout(res, 100));
    const g = await fetch(`${GATEWAY}/v1/sessions/${view.sessionId}`, { headers: auth });
    view = (await g.json()) as typeof view;
  }
  return { status: view.status, ms: performance.now() - started, toolCalls: view.toolCallCount ?? 0, costUsd: view.costUsd ?? '0' };
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function addUsd(a: string, b: string): string {
  const scale = 1_000_000_000n;
  const units = (s: string) => {
    const [i, f = ''] = s.split('.');
    return BigInt(i) * scale + BigInt(f.padEnd(9, '0').slice(0, 9));
  };
  const t = units(a) + units(b);
  return `${t / scale}.${(t % scale).toString().padStart(9, '0')}`.replace(/\.?0+$/, '');
}

async function main(): Promise<void> {
  const tools = await startToolServer({ port: 7070, host: '127.0.0.1' });
  process.stdout.write(`demo tools serving on ${tools.url}\n`);
  process.stdout.write(`demo: ${TOTAL} ${USE_LLM ? 'LLM' : 'workflow'} sessions, ${CONCURRENCY} at a time, tenants acme and globex\n`);
  const results: Outcome[] = [];
  let next = 0;
  const t0 = performance.now();
  const tty = process.stdout.isTTY;
  const progress = () => {
    const done = results.length;
    const ok = results.filter((r) => r.status === 'completed').length;
    const line = `  ${done}/${TOTAL} done, ${ok} completed, ${done - ok} other, ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    if (tty) process.stdout.write(`\r${line}`);
    else if (done % 10 === 0 || done === TOTAL) process.stdout.write(`${line}\n`);
  };
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, TOTAL) }, async () => {
      while (next < TOTAL) {
        const i = next++;
        results.push(await runOne(i).catch((e: Error) => ({ status: `error: ${e.message}`, ms: 0, toolCalls: 0, costUsd: '0' })));
        progress();
      }
    }),
  );
  if (tty) process.stdout.write('\n');
  const lat = results.map((r) => r.ms).sort((a, b) => a - b);
  const byStatus = new Map<string, number>();
  for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
  const cost = results.reduce((s, r) => addUsd(s, r.costUsd), '0');
  const wall = (performance.now() - t0) / 1000;
  process.stdout.write(
    [
      '',
      'demo summary',
      `  sessions        ${results.length} (${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')})`,
      `  latency         p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms (HTTP submit to outcome)`,
      `  throughput      ${(results.length / wall).toFixed(1)} sessions/s over ${wall.toFixed(1)} s`,
      `  tool calls      ${results.reduce((s, r) => s + r.toolCalls, 0)}`,
      `  cost            ${cost} USD (tools and inference, from the gateway's projection)`,
      '',
      'Try:  npx agentplane sessions   |   npx agentplane tail   |   open http://127.0.0.1:8080/docs',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  // Keep serving the demo tools for sessions you submit yourself.
  const stop = () => void tools.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: Error) => {
  process.stderr.write(`demo failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
