import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigFileError } from './config-file';
import { CONFIG_SCHEMAS, configSchemaText } from './config-schemas';
import { createToolRegistry, hostAllowed, loadToolRegistry } from './registry';
import { repoRoot, tempFile } from './test-helpers';

function validTool(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'search',
    version: '1.0.0',
    description: 'Search things',
    args: { type: 'object', required: ['query'], properties: { query: { type: 'string', minLength: 1 } }, additionalProperties: false },
    result: { type: 'object', required: ['hits'], properties: { hits: { type: 'array', items: { type: 'string' } } } },
    endpoint: { kind: 'http', method: 'POST', url: 'http://127.0.0.1:7070/tools/search' },
    timeoutMs: 500,
    retries: 2,
    idempotent: true,
    essential: true,
    costUsd: '0.001',
    rateLimit: { rps: 10, burst: 20, maxConcurrent: 4 },
    allowedHosts: ['127.0.0.1:7070'],
    ...overrides,
  };
}

function loadErrors(doc: unknown, name = 'tools.yaml'): string[] {
  const file = tempFile(name, stringify(doc));
  try {
    loadToolRegistry(file);
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, `expected ConfigFileError, got ${String(err)}`);
    assert.equal(err.file, file);
    // Every problem names the file it came from.
    for (const p of err.problems) assert.ok(p.startsWith(`${file}: `), p);
    return err.problems.map((p) => p.slice(file.length + 2));
  }
  assert.fail('expected the registry to be rejected');
}

describe('tool registry', () => {
  it('given the shipped config/tools.yaml, when loaded, then the four demo tools are registered', () => {
    const registry = loadToolRegistry(join(repoRoot(), 'config/tools.yaml'));
    assert.deepEqual(registry.names(), ['search', 'fetch_doc', 'summarize', 'send_email']);
    const email = registry.get('send_email')!;
    assert.equal(email.idempotent, false);
    assert.equal(email.essential, false);
    const ep = registry.get('search')!.endpoint;
    assert.equal(ep.kind === 'http' ? ep.method : undefined, 'GET');
  });

  it('given MCP endpoints (stdio without allowedHosts, http with them), when loaded, then they are registered', () => {
    const { allowedHosts: _drop, ...noHosts } = validTool();
    const registry = createToolRegistry({
      version: 1,
      tools: [
        { ...noHosts, name: 'count', endpoint: { kind: 'mcp', transport: 'stdio', command: 'node', args: ['server.js'], env: { TOKEN: 'env:MCP_TOKEN' }, tool: 'count' } },
        validTool({ name: 'remote', endpoint: { kind: 'mcp', transport: 'http', url: 'http://127.0.0.1:7070/mcp', tool: 'count' } }),
      ],
    });
    const count = registry.get('count')!;
    assert.deepEqual(count.allowedHosts, []);
    assert.equal(count.endpoint.kind === 'mcp' && count.endpoint.transport === 'stdio' ? count.endpoint.command : undefined, 'node');
    assert.equal(registry.get('remote')!.endpoint.kind, 'mcp');
  });

  it('given broken MCP endpoints, when loaded, then each problem names the field', () => {
    const { allowedHosts: _drop, ...noHosts } = validTool();
    const problems = loadErrors({
      version: 1,
      tools: [
        validTool({ name: 'a', endpoint: { kind: 'mcp', transport: 'stdio', tool: 'x' } }),
        { ...noHosts, name: 'c', endpoint: { kind: 'mcp', transport: 'http', url: 'http://127.0.0.1:7070/mcp', tool: 'x' } },
        validTool({ name: 'd', endpoint: { kind: 'mcp', transport: 'pigeon', tool: 'x' } }),
        validTool({ name: 'e', endpoint: { kind: 'mcp', transport: 'stdio', command: 'node', tool: 'x', url: 'http://x' } }),
      ],
    });
    const has = (needle: string) => assert.ok(problems.some((p) => p.includes(needle)), `${needle}\n${problems.join('\n')}`);
    has('tool "a": endpoint.command is required');
    has('tool "c": allowedHosts is required');
    has('tool "d": endpoint.transport must be one of "stdio", "http"');
    has('tool "e": endpoint has unknown field "url"');
    // Semantic checks run once the file is well-formed: an MCP URL obeys allowedHosts like an HTTP one.
    const hosts = loadErrors({ version: 1, tools: [validTool({ endpoint: { kind: 'mcp', transport: 'http', url: 'http://10.0.0.5/mcp', tool: 'x' } })] });
    assert.deepEqual(hosts, ['tool "search": endpoint.url host "10.0.0.5" is not in allowedHosts (127.0.0.1:7070)']);
  });

  it('given a tool with a bad timeout, when loaded, then the error names file, tool and field', () => {
    const problems = loadErrors({ version: 1, tools: [validTool({ timeoutMs: 0 })] });
    assert.deepEqual(problems, ['tool "search": timeoutMs must be >= 1']);
  });

  it('given many problems across tools, when loaded, then one error lists every one of them', () => {
    const bad = validTool({ name: 'fetch', costUsd: 0.5, rateLimit: { rps: 0, burst: 1 }, timeotMs: 5 });
    delete bad.retries;
    const problems = loadErrors({
      version: 1,
      tools: [validTool({ endpoint: { kind: 'http', method: 'FETCH', url: 'ftp://x' } }), bad, { description: 'no name' }],
    });
    assert.ok(problems.includes('tool "search": endpoint.method must be one of "GET", "POST", "PUT", "PATCH", "DELETE"'), problems.join('\n'));
    assert.ok(problems.includes('tool "search": endpoint.url must be an http:// or https:// URL (got "ftp://x")'), problems.join('\n'));
    assert.ok(problems.includes('tool "fetch": retries is required'), problems.join('\n'));
    assert.ok(problems.includes('tool "fetch": unknown field "timeotMs"'), problems.join('\n'));
    assert.ok(problems.includes('tool "fetch": costUsd must be string (got 0.5)'), problems.join('\n'));
    assert.ok(problems.includes('tool "fetch": rateLimit.rps must be > 0'), problems.join('\n'));
    assert.ok(problems.includes('tool "fetch": rateLimit.maxConcurrent is required'), problems.join('\n'));
    assert.ok(problems.includes('tool #3: name is required'), problems.join('\n'));
  });

  it('given a decimal field written wrongly, when loaded, then the hint shows the expected form', () => {
    const problems = loadErrors({ version: 1, tools: [validTool({ costUsd: '1e-3' })] });
    assert.deepEqual(problems, ['tool "search": costUsd must be a non-negative decimal string, e.g. "0.002" (got "1e-3")']);
  });

  it('given duplicate names, an endpoint host outside allowedHosts and an invalid args schema, then each is reported', () => {
    const problems = loadErrors({
      version: 1,
      tools: [
        validTool(),
        validTool({ endpoint: { kind: 'http', method: 'GET', url: 'http://10.0.0.5:9000/x' } }),
        validTool({ name: 'broken', args: { type: 'object', properties: { q: { type: 'strng' } } } }),
        validTool({ name: 'scalar', args: { type: 'string' } }),
      ],
    });
    assert.ok(problems.includes('tool "search": name "search" is declared more than once'), problems.join('\n'));
    assert.ok(
      problems.includes('tool "search": endpoint.url host "10.0.0.5:9000" is not in allowedHosts (127.0.0.1:7070)'),
      problems.join('\n'),
    );
    assert.ok(problems.some((p) => p.startsWith('tool "broken": args is not a valid JSON Schema: ')), problems.join('\n'));
    assert.ok(problems.includes('tool "scalar": args must be a JSON Schema with type "object"'), problems.join('\n'));
  });

  it('given unparsable YAML or a missing file, then the error names the file and the line', () => {
    const file = tempFile('tools.yaml', 'version: 1\ntools:\n  - name: [unclosed\n');
    assert.throws(() => loadToolRegistry(file), (err: ConfigFileError) => {
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line \\d+, column \\d+: `));
      return true;
    });
    assert.throws(() => loadToolRegistry('/nonexistent/tools.yaml'), /\/nonexistent\/tools.yaml: cannot read file \(ENOENT\)/);
  });

  it('given arguments that break the contract, when validated, then each error names the schema path', () => {
    const registry = createToolRegistry({ version: 1, tools: [validTool()] });
    assert.deepEqual(registry.validateArgs('search', { query: 'kafka' }), { ok: true });
    const bad = registry.validateArgs('search', { query: 42, extra: true });
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.deepEqual(bad.errors.sort(), [
      '/extra is not allowed (additional property) (schema #/additionalProperties)',
      '/query must be string (schema #/properties/query/type)',
    ]);
    const missing = registry.validateArgs('search', {});
    assert.deepEqual(missing.ok ? [] : missing.issues, [
      { instancePath: '/query', schemaPath: '#/required', keyword: 'required', message: 'is required' },
    ]);
    const result = registry.validateResult('search', { hits: ['a', 3] });
    assert.deepEqual(result.ok ? [] : result.errors, ['/hits/1 must be string (schema #/properties/hits/items/type)']);
    assert.deepEqual(registry.validateArgs('nope', {}), {
      ok: false,
      errors: ['unknown tool "nope"'],
      issues: [{ instancePath: '', schemaPath: '', keyword: 'unknown_tool', message: 'unknown tool "nope"' }],
    });
  });

  it('given user schemas with formats, when validated, then formats are checked', () => {
    const registry = loadToolRegistry(join(repoRoot(), 'config/tools.yaml'));
    const r = registry.validateArgs('send_email', { to: 'not-an-email', subject: 's', body: 'b' });
    assert.deepEqual(r.ok ? [] : r.errors, ['/to must match format "email" (schema #/properties/to/format)']);
  });

  it('given an allowed subset, when exported as OpenAI functions, then only those tools appear in wire shape', () => {
    const registry = loadToolRegistry(join(repoRoot(), 'config/tools.yaml'));
    const fns = registry.toOpenAIFunctions(['summarize', 'search', 'ghost']);
    assert.deepEqual(
      fns.map((f) => f.function.name),
      ['search', 'summarize'],
    );
    assert.equal(fns[0].type, 'function');
    assert.equal(fns[0].function.parameters.type, 'object');
    assert.deepEqual((fns[0].function.parameters as { required: string[] }).required, ['query']);
    assert.equal(registry.toOpenAIFunctions().length, 4);
  });

  it('hostAllowed: host entries allow any port, host:port entries only that port', () => {
    assert.equal(hostAllowed('http://127.0.0.1:7070/x', ['127.0.0.1:7070']), true);
    assert.equal(hostAllowed('http://127.0.0.1:7071/x', ['127.0.0.1:7070']), false);
    assert.equal(hostAllowed('http://api.example.com/x', ['api.example.com']), true);
    assert.equal(hostAllowed('https://api.example.com/x', ['api.example.com:443']), true);
    assert.equal(hostAllowed('http://[::1]:80/x', ['[::1]']), true);
    assert.equal(hostAllowed('not a url', ['x']), false);
  });

  it('the committed schemas/config/*.schema.json files equal the schemas the loaders use', () => {
    for (const file of Object.keys(CONFIG_SCHEMAS) as (keyof typeof CONFIG_SCHEMAS)[]) {
      const committed = readFileSync(join(repoRoot(), 'schemas/config', file), 'utf8');
      assert.equal(committed, configSchemaText(file), `schemas/config/${file} is stale; regenerate it (see docs/tools.md)`);
    }
  });
});
