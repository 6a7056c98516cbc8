import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { blockedAddressReason, blockedReasonOf, checkUrl, embeddedIPv4, guardedLookup, hostnameAllowlisted, sandboxDispatcher } from './index';

type Answer = Array<{ address: string; family: number }>;
/** A resolver answering from a table, as DNS (or a rebinding attacker's DNS) would. */
function fakeDns(table: Record<string, Answer>) {
  return (hostname: string, _o: unknown, cb: (err: NodeJS.ErrnoException | null, a: Answer) => void) => {
    const a = table[hostname];
    if (!a) cb(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    else cb(null, a);
  };
}

function lookup(allowedHosts: string[], hostname: string, table: Record<string, Answer>): Promise<{ err: Error | null; address: unknown }> {
  const fn = guardedLookup({ allowedHosts }, fakeDns(table) as never);
  return new Promise((ok) => fn(hostname, { all: true }, (err, address) => ok({ err, address })));
}

const v4 = (address: string) => ({ address, family: 4 });
const v6 = (address: string) => ({ address, family: 6 });

describe('sandbox address checks', () => {
  it('IPv4: loopback, private, link-local, CGNAT, metadata, broadcast and reserved are blocked; public is not', () => {
    const cases: Array<[string, RegExp | undefined]> = [
      ['127.0.0.1', /loopback/],
      ['127.255.255.254', /loopback/],
      ['10.1.2.3', /private/],
      ['172.16.0.1', /private/],
      ['172.31.255.255', /private/],
      ['192.168.1.1', /private/],
      ['169.254.1.1', /link-local/],
      ['169.254.169.254', /cloud metadata/],
      ['100.100.100.200', /cloud metadata/],
      ['100.64.0.1', /carrier-grade NAT/],
      ['0.0.0.0', /unspecified/],
      ['224.0.0.1', /multicast/],
      ['255.255.255.255', /reserved|broadcast/],
      ['8.8.8.8', undefined],
      ['172.32.0.1', undefined],
      ['93.184.216.34', undefined],
    ];
    for (const [ip, re] of cases) {
      const why = blockedAddressReason(ip);
      if (re) assert.match(why ?? '', re, ip);
      else assert.equal(why, undefined, ip);
    }
  });

  it('IPv6: loopback, unspecified, ULA, link-local, multicast, documentation and metadata are blocked; public is not', () => {
    const cases: Array<[string, RegExp | undefined]> = [
      ['::1', /loopback/],
      ['[::1]', /loopback/],
      ['::', /unspecified/],
      ['fd12:3456::1', /unique local/],
      ['fe80::1', /link-local/],
      ['fe80::1%eth0', /link-local/],
      ['ff02::1', /multicast/],
      ['2001:db8::1', /documentation/],
      ['fd00:ec2::254', /cloud metadata/],
      ['2606:4700:4700::1111', undefined],
      ['2a00:1450:4001:82a::200e', undefined],
    ];
    for (const [ip, re] of cases) {
      const why = blockedAddressReason(ip);
      if (re) assert.match(why ?? '', re, ip);
      else assert.equal(why, undefined, ip);
    }
    assert.match(blockedAddressReason('not-an-ip') ?? '', /not an IP address/);
  });

  it('IPv4-mapped, -compatible and NAT64 addresses are judged by the IPv4 address inside', () => {
    assert.equal(embeddedIPv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(embeddedIPv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(embeddedIPv4('0:0:0:0:0:ffff:a9fe:a9fe'), '169.254.169.254');
    assert.equal(embeddedIPv4('64:ff9b::a00:1'), '10.0.0.1');
    assert.equal(embeddedIPv4('2606:4700::1'), undefined);
    assert.match(blockedAddressReason('::ffff:127.0.0.1') ?? '', /embeds IPv4 127\.0\.0\.1: .*loopback/);
    assert.match(blockedAddressReason('::ffff:a9fe:a9fe') ?? '', /embeds IPv4 169\.254\.169\.254: .*cloud metadata/);
    assert.match(blockedAddressReason('64:ff9b::7f00:1') ?? '', /loopback/);
    assert.match(blockedAddressReason('::10.0.0.1') ?? '', /private/);
    assert.equal(blockedAddressReason('::ffff:8.8.8.8'), undefined);
  });

  it('URLs: decimal, hex, octal and short IPv4 spellings are normalised before the check', () => {
    const policy = { allowedHosts: ['127.0.0.1:7070', 'api.example.com', '[::1]:8080'] };
    const blocked: Array<[string, RegExp]> = [
      ['http://2130706433/', /127\.0\.0\.1 is a loopback/],
      ['http://0x7f000001/', /127\.0\.0\.1 is a loopback/],
      ['http://0x7f.0x0.0x0.0x1/', /127\.0\.0\.1 is a loopback/],
      ['http://0177.0.0.01/', /127\.0\.0\.1 is a loopback/],
      ['http://127.1/', /127\.0\.0\.1 is a loopback/],
      ['http://0xa9fea9fe/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata/],
      ['http://2852039166/', /cloud metadata/],
      ['http://[::ffff:169.254.169.254]/', /cloud metadata/],
      ['http://[::ffff:127.0.0.1]:7070/', /embeds IPv4 127\.0\.0\.1/],
      ['http://127.0.0.1:7071/', /loopback address and not allowlisted/],
      ['http://user:pw@api.example.com/', /credentials/],
      ['ftp://api.example.com/', /scheme/],
      ['http://evil.example.com/', /not in the tool's allowedHosts/],
      ['http://metadata.google.internal/', /metadata host name/],
    ];
    for (const [url, re] of blocked) {
      const v = checkUrl(url, policy);
      assert.equal(v.ok, false, url);
      if (!v.ok) assert.match(v.reason, re, url);
    }
    for (const url of ['http://127.0.0.1:7070/x', 'http://2130706433:7070/x', 'https://api.example.com/v1', 'http://[::1]:8080/', 'http://[0:0:0:0:0:0:0:1]:8080/']) {
      assert.equal(checkUrl(url, policy).ok, true, url);
    }
  });
});

describe('sandbox DNS answers', () => {
  const table = {
    'internal.example': [v4('10.0.0.5')],
    'rebind.example': [v4('93.184.216.34'), v4('127.0.0.1')],
    'meta.example': [v4('169.254.169.254')],
    'meta6.example': [v6('::ffff:169.254.169.254')],
    'public.example': [v4('93.184.216.34'), v6('2606:4700::1')],
    localhost: [v4('127.0.0.1'), v6('::1')],
  };

  it('a name that resolves to a private or loopback address is blocked unless allowlisted', async () => {
    const r = await lookup(['public.example'], 'internal.example', table);
    assert.match(r.err?.message ?? '', /internal\.example resolves to 10\.0\.0\.5: 10\.0\.0\.5 is a private address/);
    assert.equal((r.err as { code?: string }).code, 'EBLOCKED');
    const any = await lookup(['public.example'], 'rebind.example', table);
    assert.match(any.err?.message ?? '', /127\.0\.0\.1 is a loopback/, 'one bad answer among good ones is enough');
    assert.equal((await lookup(['public.example'], 'public.example', table)).err, null);
  });

  it('an allowlisted host name passes whatever private address it resolves to (explicit opt-in by name)', async () => {
    for (const entry of ['internal.example', 'internal.example:8443', 'INTERNAL.example.']) {
      const r = await lookup([entry], 'internal.example', table);
      assert.equal(r.err, null, entry);
      assert.deepEqual(r.address, [v4('10.0.0.5')]);
    }
    assert.equal((await lookup(['localhost:7070'], 'localhost', table)).err, null);
    // The opt-in is for that name only.
    assert.ok((await lookup(['internal.example'], 'rebind.example', table)).err);
    // The IP literal in the allowlist still opens that address for any name.
    assert.equal((await lookup(['10.0.0.5'], 'internal.example', table)).err, null);
  });

  it('an allowlisted name still cannot reach a cloud metadata address (only the address itself opens it)', async () => {
    assert.match((await lookup(['meta.example'], 'meta.example', table)).err?.message ?? '', /cloud metadata/);
    assert.match((await lookup(['meta6.example'], 'meta6.example', table)).err?.message ?? '', /cloud metadata/);
    assert.equal((await lookup(['meta.example', '169.254.169.254'], 'meta.example', table)).err, null);
  });

  it('hostnameAllowlisted: names only, never IP literals', () => {
    assert.equal(hostnameAllowlisted('db.internal', { allowedHosts: ['db.internal:5432'] }), true);
    assert.equal(hostnameAllowlisted('db.internal', { allowedHosts: ['other.internal'] }), false);
    assert.equal(hostnameAllowlisted('127.0.0.1', { allowedHosts: ['127.0.0.1'] }), false);
    assert.equal(hostnameAllowlisted('::1', { allowedHosts: ['[::1]'] }), false);
  });
});

describe('sandbox dispatcher (real connections)', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));

  const resolve = fakeDns({ 'svc.internal.test': [v4('127.0.0.1')], 'other.internal.test': [v4('127.0.0.1')] }) as never;

  it('connects to an allowlisted name on loopback; refuses another name resolving to the same address', async () => {
    const policy = { allowedHosts: [`svc.internal.test:${port}`, `other.internal.test:${port}`] };
    const ok = await fetch(`http://svc.internal.test:${port}/`, { dispatcher: sandboxDispatcher({ allowedHosts: [`svc.internal.test:${port}`] }, { resolve }) } as RequestInit);
    assert.equal(await ok.text(), 'ok');
    // The URL check passes for the other name (it is allowlisted for the URL), but the
    // dispatcher's policy only opts in svc.internal.test: its DNS answer is refused.
    assert.equal(checkUrl(`http://other.internal.test:${port}/`, policy).ok, true);
    const err = await fetch(`http://other.internal.test:${port}/`, { dispatcher: sandboxDispatcher({ allowedHosts: [`svc.internal.test:${port}`] }, { resolve }) } as RequestInit).catch((e: unknown) => e);
    assert.match(blockedReasonOf(err) ?? '', /other\.internal\.test resolves to 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/);
  });
});
