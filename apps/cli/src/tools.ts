// `agentplane tools import`: reads an MCP server's tool list and schemas into tools.yaml.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { createToolRegistry, type McpEndpoint } from '@agentplane/tools';

const say = (line: string) => process.stderr.write(`${line}\n`);

export interface ImportOptions {
  /** stdio server: the command and its arguments. */
  readonly command?: readonly string[];
  /** Written into the endpoint as given (a value `env:NAME` is resolved by the executor). */
  readonly env?: Readonly<Record<string, string>>;
  /** streamable HTTP server. */
  readonly url?: string;
  /** The tools.yaml to merge into (read if it exists). */
  readonly file: string;
  /** Registry names are `<prefix><mcp name>`. */
  readonly prefix?: string;
  /** Only these MCP tool names. */
  readonly only?: readonly string[];
  readonly timeoutMs?: number;
}

export interface ImportResult {
  readonly yaml: string;
  readonly added: string[];
  readonly updated: string[];
  readonly unchanged: string[];
}

/** What an imported entry's result contract is when the server declares no output schema. */
const CONTENT_RESULT = { type: 'object', required: ['content'], properties: { content: { type: 'array' } } };
const HEADER = '# yaml-language-server: $schema=../schemas/config/tools.schema.json\n# Tool registry. Reference: docs/tools.md.\n';

/** Lists the server's tools (every page). */
export async function listMcpTools(opts: Pick<ImportOptions, 'command' | 'env' | 'url' | 'timeoutMs'>): Promise<{ tools: Tool[]; server?: { name: string; version: string } }> {
  const client = new Client({ name: 'agentplane-cli', version: '1.0.0' });
  const transport = opts.url
    ? new StreamableHTTPClientTransport(new URL(opts.url))
    : new StdioClientTransport({
        command: opts.command![0]!,
        args: opts.command!.slice(1),
        // Only literal values reach the server here; `env:NAME` references are read from this shell.
        env: { ...getDefaultEnvironment(), ...resolveEnv(opts.env ?? {}) },
        stderr: 'inherit',
      });
  const timeout = opts.timeoutMs ?? 30_000;
  try {
    await client.connect(transport, { timeout });
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, { timeout });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    const v = client.getServerVersion();
    return { tools, ...(v ? { server: { name: v.name, version: v.version } } : {}) };
  } finally {
    await client.close().catch(() => undefined);
  }
}

function resolveEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(v);
    const value = m ? process.env[m[1]!] : v;
    if (value !== undefined) out[k] = value;
  }
  return out;
}

/** A registry name from an MCP tool name (registry names follow OpenAI's function-name rule). */
export function registryName(prefix: string, mcpName: string): string {
  return `${prefix}${mcpName}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
}

/**
 * Merges the server's tools into the file's YAML document: a new tool gets an entry with
 * conservative defaults (not idempotent unless the server says so, no retries, low limits);
 * an existing one (same registry name) gets its contract refreshed (description, args, result,
 * endpoint) and keeps everything an operator tuned (limits, cost, timeouts, flags). Comments and
 * other tools are preserved. The merged file must load as a registry, or nothing is written.
 */
export async function importMcpTools(opts: ImportOptions): Promise<ImportResult> {
  if (!opts.url === !opts.command?.length) throw new Error('give either a stdio command or --url');
  const { tools, server } = await listMcpTools(opts);
  const wanted = opts.only?.length ? tools.filter((t) => opts.only!.includes(t.name)) : tools;
  if (opts.only?.length) {
    const missing = opts.only.filter((n) => !tools.some((t) => t.name === n));
    if (missing.length) throw new Error(`the server has no tool ${missing.join(', ')} (it has ${tools.map((t) => t.name).join(', ') || 'none'})`);
  }
  const text = existsSync(opts.file) ? readFileSync(opts.file, 'utf8') : `${HEADER}version: 1\ntools: []\n`;
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`${opts.file}: ${doc.errors[0]!.message}`);
  if (!doc.has('tools')) doc.set('tools', doc.createNode([]));
  const list = doc.get('tools');
  if (!isSeq(list)) throw new Error(`${opts.file}: "tools" is not a list`);

  const added: string[] = [];
  const updated: string[] = [];
  const unchanged: string[] = [];
  for (const t of wanted) {
    const name = registryName(opts.prefix ?? '', t.name);
    const endpoint: McpEndpoint = opts.url
      ? { kind: 'mcp', transport: 'http', url: opts.url, tool: t.name }
      : { kind: 'mcp', transport: 'stdio', command: opts.command![0]!, ...(opts.command!.length > 1 ? { args: opts.command!.slice(1) } : {}), ...(opts.env && Object.keys(opts.env).length ? { env: opts.env } : {}), tool: t.name };
    const contract = {
      description: t.description?.trim() || t.title || t.annotations?.title || `${t.name} (MCP tool${server ? ` of ${server.name}` : ''})`,
      args: { ...t.inputSchema, type: 'object' },
      result: t.outputSchema ? { ...t.outputSchema, type: 'object' } : CONTENT_RESULT,
      endpoint,
    };
    const existing = list.items.find((it): it is YAMLMap => isMap(it) && it.get('name') === name);
    if (existing) {
      const before = JSON.stringify(existing.toJSON());
      for (const [k, v] of Object.entries(contract)) existing.set(k, doc.createNode(v));
      if (opts.url && !existing.has('allowedHosts')) existing.set('allowedHosts', doc.createNode([new URL(opts.url).host]));
      (JSON.stringify(existing.toJSON()) === before ? unchanged : updated).push(name);
      continue;
    }
    const idempotent = t.annotations?.idempotentHint === true || t.annotations?.readOnlyHint === true;
    list.add(
      doc.createNode({
        name,
        version: server?.version ?? '1.0.0',
        ...contract,
        timeoutMs: 10_000,
        // Retrying a call whose answer was lost is only safe when the server says it is idempotent.
        retries: idempotent ? 2 : 0,
        idempotent,
        essential: false,
        costUsd: '0',
        rateLimit: { rps: 10, burst: 20, maxConcurrent: 4 },
        ...(opts.url ? { allowedHosts: [new URL(opts.url).host] } : {}),
      }),
    );
    added.push(name);
  }
  if (added.length || updated.length) bumpVersion(doc);
  // Refuse to write a file the services would refuse to load.
  createToolRegistry(doc.toJSON(), opts.file);
  return { yaml: doc.toString({ lineWidth: 0 }), added, updated, unchanged };
}

function bumpVersion(doc: Document): void {
  const v = doc.get('version');
  doc.set('version', typeof v === 'number' && Number.isInteger(v) ? v + 1 : 1);
}

export function registerToolsCommands(program: Command): void {
  const tools = program.command('tools').description('The tool registry (tools.yaml)');
  tools
    .command('import')
    .description('Read an MCP server\'s tools and schemas into tools.yaml: `tools import -- node server.js` (stdio) or `tools import --url URL`')
    .argument('[command...]', 'stdio server command and its arguments (after --)')
    .option('--url <url>', 'streamable HTTP endpoint of the server instead of a command')
    .option('--out <file>', 'tools.yaml to write or merge into', 'config/tools.yaml')
    .option('--dry-run', 'print the merged YAML instead of writing it')
    .option('--prefix <prefix>', 'prefix of the registry names (e.g. github_)', '')
    .option('--only <names>', 'comma-separated MCP tool names to import')
    .addOption(new Option('--env <KEY=VALUE...>', 'environment of the stdio server, written to the endpoint (VALUE may be env:NAME)'))
    .option('--timeout <ms>', 'connect and list timeout', (v) => Number.parseInt(v, 10), 30_000)
    .action(async (command: string[], o: { url?: string; out: string; dryRun?: boolean; prefix: string; only?: string; env?: string[]; timeout: number }) => {
      const env: Record<string, string> = {};
      for (const kv of o.env ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`--env wants KEY=VALUE (got ${kv})`);
        env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const r = await importMcpTools({
        ...(command.length ? { command } : {}),
        ...(o.url ? { url: o.url } : {}),
        env,
        file: o.out,
        prefix: o.prefix,
        ...(o.only ? { only: o.only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        timeoutMs: o.timeout,
      });
      const summary = `added ${r.added.length} (${r.added.join(', ') || '-'}), updated ${r.updated.length} (${r.updated.join(', ') || '-'}), unchanged ${r.unchanged.length}`;
      if (o.dryRun) {
        process.stdout.write(r.yaml);
        say(`dry run: ${summary}; ${o.out} not written`);
        return;
      }
      writeFileSync(o.out, r.yaml);
      say(`${o.out}: ${summary}`);
    });
}
