import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadToolRegistry } from '@agentplane/tools';
import { startMcpHttpServer, type McpHttpFixture } from '../../../test/fixtures/mcp-server';
import { importMcpTools } from './tools';

const REPO = resolve(__dirname, '../../../..');
const FIXTURE = resolve(__dirname, '../../../test/fixtures/mcp-server.js');
const CLI = resolve(__dirname, 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'agentplane-import-'));
let http: McpHttpFixture;

before(async () => {
  http = await startMcpHttpServer();
});
after(async () => {
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agentplane tools import', () => {
  it('--dry-run prints the server\'s tools as registry entries (stdio) and writes nothing', () => {
    const out = join(dir, 'dry.yaml');
    const r = spawnSync(process.execPath, [CLI, 'tools', 'import', '--dry-run', '--out', out, '--prefix', 'fx_', '--', process.execPath, FIXTURE], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const doc = parse(r.stdout) as { version: number; tools: any[] };
    assert.deepEqual(doc.tools.map((t) => t.name), ['fx_count', 'fx_slow', 'fx_fail']);
    const count = doc.tools[0];
    assert.deepEqual(count.endpoint, { kind: 'mcp', transport: 'stdio', command: process.execPath, args: [FIXTURE], tool: 'count' });
    assert.deepEqual(count.args.properties.n, { type: 'integer' });
    assert.deepEqual(count.result.required, ['count', 'args'], 'the output schema became the result contract');
    assert.deepEqual(doc.tools[1].result, { type: 'object', required: ['content'], properties: { content: { type: 'array' } } });
    assert.equal(count.idempotent, false, 'not idempotent unless the server says so');
    assert.equal(count.allowedHosts, undefined);
    assert.match(r.stderr, /added 3 .*not written/);
    assert.throws(() => readFileSync(out), /ENOENT/);
  });

  it('merges into an existing tools.yaml: other tools and comments stay, a re-import keeps tuned fields', async () => {
    const file = join(dir, 'tools.yaml');
    writeFileSync(file, readFileSync(join(REPO, 'config/tools.yaml'), 'utf8'));
    const first = await importMcpTools({ url: http.url, file, only: ['count'] });
    assert.deepEqual(first.added, ['count']);
    writeFileSync(file, first.yaml.replace('costUsd: "0"', 'costUsd: "0.25"'));
    const again = await importMcpTools({ url: http.url, file });
    assert.deepEqual(again.added, ['slow', 'fail']);
    assert.deepEqual(again.unchanged, ['count']);
    writeFileSync(file, again.yaml);

    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# yaml-language-server/, 'comments kept');
    const reg = loadToolRegistry(file);
    assert.deepEqual(reg.names(), ['search', 'fetch_doc', 'summarize', 'send_email', 'count', 'slow', 'fail']);
    const count = reg.get('count')!;
    assert.equal(count.costUsd, '0.25', 'an operator-tuned field survives a re-import');
    assert.deepEqual(count.endpoint, { kind: 'mcp', transport: 'http', url: http.url, tool: 'count' });
    assert.deepEqual(count.allowedHosts, [`127.0.0.1:${http.port}`]);
    const original = parse(readFileSync(join(REPO, 'config/tools.yaml'), 'utf8')) as { version: number };
    assert.equal((parse(text) as { version: number }).version, original.version + 2, 'each change bumps the file version');
  });

  it('names a tool the server does not have', async () => {
    await assert.rejects(importMcpTools({ url: http.url, file: join(dir, 'x.yaml'), only: ['nope'] }), /no tool nope \(it has count, slow, fail\)/);
  });
});
