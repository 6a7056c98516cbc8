/**
 * The dashboard renders real data in the machine's Chromium (Debian `chromium`, driven by
 * playwright-core): the service fed a known workload, the page loaded with an analyst key,
 * the tenant table and four uPlot charts drawn. The screenshot goes to .agentplane/ (a test run
 * leaves the tree clean); `UPDATE_DOCS=1 npm test -- dashboard` refreshes docs/dashboard.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { waitForKafka } from '../support';
import { DIST } from '../platform/helpers';
import { costEnv, disposeEnv, KEYS, knownWorkload, publish, setEventClock, startCost, step, tool, waitFor, type CostEnv } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = resolve(DIST, '..', process.env.UPDATE_DOCS === '1' ? 'docs' : '.agentplane', 'dashboard.png');

/** Installs Debian's chromium when missing and we may (root); otherwise the test is skipped, saying why. */
function ensureChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.getuid?.() !== 0) return `${CHROMIUM} missing and not root: apt-get install -y chromium`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', env });
  }
  return existsSync(CHROMIUM) ? undefined : 'apt-get install chromium failed';
}

const skip = ensureChromium();
let e: CostEnv;

before(async () => {
  if (skip) return;
  await waitForKafka();
  e = await costEnv(3);
  await startCost(e);
  // The known workload, then t-b traffic spread over the last 50 minutes so the charts have shape.
  const known = knownWorkload();
  setEventClock(Date.now() - 50 * 60_000, 60_000);
  const extra = Array.from({ length: 48 }, (_, i) =>
    i % 4 === 0
      ? step('t-b', `s-dash-${i % 6}`, i + 1, 'llama-3.1-8b', 0, 0, { pass: i % 12 !== 0, latencyMs: 250 + ((i * 37) % 400) })
      : tool('t-b', `s-dash-${i % 6}`, `d${i}`, i % 2 ? 'search' : 'fetch_doc', i % 2 ? '0.0001' : '0.0002', { ok: i % 7 !== 0, latencyMs: 150 + ((i * 53) % 300) }),
  );
  await publish(e, [...known, ...extra]);
  await waitFor('workload booked', async () => {
    const r = await fetch(`${e.base}/v1/tenants`, { headers: { authorization: `Bearer ${KEYS.analyst}` } });
    const body = (await r.json()) as { items: Array<{ tenantId: string; totalUsd: string }> };
    return body.items.find((t) => t.tenantId === 't-b')?.totalUsd === '0.0503' ? true : undefined;
  }, 30_000, 50);
});

after(async () => {
  if (e) await disposeEnv(e);
});

test('the dashboard renders real data in Chromium', { skip, timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const external: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(e.base)) external.push(req.url());
    });
    await page.goto(`${e.base}/dashboard#key=${KEYS.analyst}&range=3600000|minute`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });

    const rows = await page.$$eval('#tenants tbody tr', (trs) => trs.map((tr) => ({ id: tr.getAttribute('data-tenant'), text: tr.textContent })));
    assert.deepEqual(rows.map((r) => r.id), ['t-a', 't-b', 't-g']);
    assert.match(rows[0].text ?? '', /\$0\.8089/); // 0.80886655 month to date
    assert.match(rows[0].text ?? '', /\$11\.50/); // guardrail threshold
    const charts = await page.$$eval('.chart canvas', (cs) => cs.map((c) => Number(c.getAttribute('width'))));
    assert.equal(charts.length, 4, 'four uPlot charts drawn');
    assert.ok(charts.every((w) => w > 300));
    const legend = await page.textContent('#spend');
    assert.match(legend ?? '', /inference/);
    assert.deepEqual(errors, [], 'no script errors');
    assert.deepEqual(external, [], 'everything is served by the service (no CDN)');

    rmSync(SCREENSHOT, { force: true }); // a screenshot from an earlier run must not pass for this one
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(existsSync(SCREENSHOT));

    // A tenant key sees its own tenant only.
    const page2 = await browser.newPage();
    await page2.goto(`${e.base}/dashboard#key=${KEYS.b}`);
    await page2.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    assert.deepEqual(await page2.$$eval('#tenants tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-tenant'))), ['t-b']);
  } finally {
    await browser.close();
  }
});
