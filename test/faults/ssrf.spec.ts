/**
 * SSRF: tool URLs and redirects to loopback (not allowlisted), metadata, IPv4-mapped IPv6 and
 * hex IPv4 are blocked with the reason; the blocked target is never contacted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkUrl } from '@agentplane/sandbox';
import { Harness, tool } from './harness';

const h = new Harness(2);
let forbidden: Server;
let forbiddenHits = 0;
let fport = 0;

before(async () => {
  // A loopback server the tool is NOT allowlisted for: it must never see a request.
  forbidden = createServer((_q, r) => {
    forbiddenHits++;
    r.end('{"args":{}}');
  });
  await new Promise<void>((ok) => forbidden.listen(0, '127.0.0.1', ok));
  fport = (forbidden.address() as AddressInfo).port;
  await h.start();
  const to = (target: string) => ({ path: `redirect?to=${encodeURIComponent(target)}` });
  h.writeTools([
    tool('r_loopback', h.server, to(`http://127.0.0.1:${fport}/x`)),
    tool('r_metadata', h.server, to('http://169.254.169.254/latest/meta-data/')),
    tool('r_mapped', h.server, to(`http://[::ffff:127.0.0.1]:${fport}/x`)),
    tool('r_hex', h.server, to(`http://0x7f000001:${fport}/x`)),
    tool('r_ok', h.server, to(`${h.server.url}/tools/echo`)),
  ]);
  await h.startService('executor');
});
after(async () => {
  await h.stop();
  forbidden.close();
});

test('redirects to blocked targets fail with code blocked and the reason; allowlisted ones are followed', { timeout: 60_000 }, async () => {
  const calls = ['r_loopback', 'r_metadata', 'r_mapped', 'r_hex', 'r_ok'].map((t) => h.admitted({ tool: t }));
  await h.publish(calls);
  const outs = await h.waitOutcomes(calls.map((c) => c.data));
  const by = Object.fromEntries(outs.map((o) => [(o.data as { tool: string }).tool, o]));
  for (const [t, re] of [
    ['r_loopback', new RegExp(`127\\.0\\.0\\.1:${fport} is blocked: 127\\.0\\.0\\.1 is a loopback address and not allowlisted`)],
    ['r_metadata', /169\.254\.169\.254 is a cloud metadata address/],
    ['r_mapped', /embeds IPv4 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/],
    ['r_hex', new RegExp(`127\\.0\\.0\\.1:${fport} is blocked: 127\\.0\\.0\\.1 is a loopback address`)],
  ] as const) {
    const o = by[t]!;
    assert.equal(o.type, 'agentplane.tool.call.failed', `${t}: ${JSON.stringify(o.data)}`);
    assert.equal((o.data as { code: string }).code, 'blocked', t);
    assert.match((o.data as { error: string }).error, re, t);
  }
  assert.equal(by.r_ok!.type, 'agentplane.tool.call.succeeded', JSON.stringify(by.r_ok!.data));
  assert.equal(forbiddenHits, 0);
});

test('tool URLs in every spelling of a blocked address are refused before connecting', () => {
  const policy = { allowedHosts: ['127.0.0.1:7070', 'api.example.com'] };
  const cases: Array<[string, RegExp]> = [
    ['http://127.0.0.1:9/', /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['http://[::ffff:127.0.0.1]:7070/', /embeds IPv4 127\.0\.0\.1/],
    ['http://[::ffff:7f00:1]/', /embeds IPv4 127\.0\.0\.1/],
    ['http://0x7f000001:9/', /127\.0\.0\.1:9 is blocked: 127\.0\.0\.1 is a loopback address/],
    ['http://2130706433/', /loopback/],
    ['http://0177.0.0.1/', /loopback/],
    ['http://127.1/', /loopback/],
    ['http://[::1]/', /loopback/],
    ['http://[fd00:ec2::254]/', /metadata/],
    ['http://10.0.0.5/', /private/],
    ['http://[fe80::1]/', /link-local/],
    ['http://metadata.google.internal/', /metadata/],
    ['file:///etc/passwd', /scheme/],
    ['gopher://127.0.0.1:7070/', /scheme/],
  ];
  for (const [url, re] of cases) {
    const v = checkUrl(url, policy);
    assert.equal(v.ok, false, url);
    if (!v.ok) assert.match(v.reason, re, url);
  }
  assert.equal(checkUrl('http://127.0.0.1:7070/tools/search', policy).ok, true);
  assert.equal(checkUrl('https://api.example.com/v1', policy).ok, true);
});
