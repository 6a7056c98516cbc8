/**
 * The budget guardrail across services, on the real broker and database: cost accounting books
 * real sessions, trips the tenant's guardrail above forecast × 1.15 and publishes it; the rate
 * limiter then rejects the tenant's non-essential tool (send_email) with budget_exceeded while
 * the essential one (search) goes on; raising the forecast clears it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { startStack, type Stack } from '../support/stack';

const ACME = 'ap_demo_acme_3f9c2b7e1d4a';
let tools: ToolServer;
let stack: Stack;

/** The demo tenants with acme's forecast set to `forecast` (threshold = forecast × 1.15). */
function tenantsWith(forecast: string): string {
  const demo = readFileSync(join(__dirname, '../../../config/tenants.yaml'), 'utf8');
  return demo.replace(/(id: acme[\s\S]*?monthlyForecastUsd: )"[^"]*"/, `$1"${forecast}"`);
}

before(async () => {
  tools = await startToolServer({ port: 0 });
  stack = await startStack({
    toolsUrl: tools.url,
    services: ['planner', 'rate-limiter', 'executor', 'gateway', 'cost-accounting'],
    // threshold 0.0115 USD: four emails (0.003 each) pass it.
    tenantsYaml: tenantsWith('0.01'),
  });
});

after(async () => {
  await stack?.stop();
  await tools?.close();
});

async function session(tool: 'send_email' | 'search'): Promise<any> {
  const call =
    tool === 'send_email'
      ? { id: 'mail', tool, args: { to: 'ops@example.com', subject: 'report', body: 'done' } }
      : { id: 'find', tool, args: { query: 'kafka' } };
  const r = await fetch(`${stack.url('gateway')}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json', prefer: 'wait=20' },
    body: JSON.stringify({ input: `guardrail ${tool}`, workflow: { steps: [{ calls: [call] }] } }),
  });
  const view = (await r.json()) as { sessionId: string; status: string };
  return eventually(async () => {
    const g = await fetch(`${stack.url('gateway')}/v1/sessions/${view.sessionId}`, { headers: { authorization: `Bearer ${ACME}` } });
    const v = (await g.json()) as { status: string };
    return ['completed', 'failed', 'rejected'].includes(v.status) ? v : undefined;
  }, { timeoutMs: 30_000, message: `session ${view.sessionId}` });
}

/** acme's row of the analyst API: month-to-date spend, threshold and guardrail state. */
async function acme(): Promise<{ totalUsd: string; thresholdUsd: string; guardrailTripped: boolean } | undefined> {
  const r = await fetch(`${stack.url('cost-accounting')}/v1/tenants`, { headers: { authorization: 'Bearer ap_demo_analyst_5d2c9e71b0f4' } });
  if (r.status !== 200) return undefined;
  return ((await r.json()) as { items: Array<{ tenantId: string; totalUsd: string; thresholdUsd: string; guardrailTripped: boolean }> }).items.find((t) => t.tenantId === "acme");
}

describe('budget guardrail across services', () => {
  test('trips above forecast × 1.15: non-essential rejected, essential goes on; clears when the forecast is raised', { timeout: 180_000 }, async () => {
    // Under the threshold: emails go out.
    for (let i = 0; i < 3; i++) assert.equal((await session('send_email')).status, 'completed');
    // The fourth passes 0.0115 USD of spend; the guardrail trips once it is booked.
    assert.equal((await session('send_email')).status, 'completed');
    await eventually(async () => (await acme())?.guardrailTripped === true, { timeoutMs: 30_000, message: 'guardrail tripped' });
    // The rate limiter follows control-events: the non-essential tool is refused.
    const refused = await eventually(async () => {
      const v = await session('send_email');
      return v.status === 'failed' ? v : undefined;
    }, { timeoutMs: 30_000, message: 'email refused under the guardrail' });
    assert.match(JSON.stringify(refused), /budget_exceeded/);
    const mailsBefore = tools.stats();
    // Essential tools go on.
    assert.equal((await session('search')).status, 'completed');

    // Raise the forecast: cost accounting re-reads tenants.yaml and clears the guardrail.
    writeFileSync(join(stack.configDir, 'tenants.yaml'), tenantsWith('100.00'));
    await eventually(async () => (await acme())?.guardrailTripped === false, { timeoutMs: 30_000, message: 'guardrail cleared' });
    const again = await eventually(async () => {
      const v = await session('send_email');
      return v.status === 'completed' ? v : undefined;
    }, { timeoutMs: 30_000, message: 'email accepted after clearing' });
    assert.equal(again.status, 'completed');
    assert.ok(tools.stats().executions > mailsBefore.executions);
  });
});
