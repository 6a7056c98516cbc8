import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ConfigFileError, configAjv, itemLabel, readYamlFile, validateConfig } from './config-file';
import { toolsFileSchema } from './config-schemas';

export type JsonSchema = Record<string, unknown>;
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpEndpoint {
  readonly kind: 'http';
  readonly method: HttpMethod;
  readonly url: string;
}
/** A tool served by an MCP server that the executor starts and talks to over stdin/stdout. */
export interface McpStdioEndpoint {
  readonly kind: 'mcp';
  readonly transport: 'stdio';
  readonly command: string;
  readonly args?: readonly string[];
  /** Server environment; a value `env:NAME` is read from the executor's environment (secrets). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** The tool's name on the MCP server (may differ from the registry name). */
  readonly tool: string;
}
/** A tool served by an MCP server over streamable HTTP. */
export interface McpHttpEndpoint {
  readonly kind: 'mcp';
  readonly transport: 'http';
  readonly url: string;
  readonly tool: string;
}
export type McpEndpoint = McpStdioEndpoint | McpHttpEndpoint;
/** Discriminated by `kind` (and `transport` for MCP). */
export type ToolEndpoint = HttpEndpoint | McpEndpoint;

/** The URL a tool connects to over the network, if any (HTTP tools and MCP over HTTP). */
export function endpointUrl(e: ToolEndpoint): string | undefined {
  return e.kind === 'http' || e.transport === 'http' ? e.url : undefined;
}

export interface ToolRateLimit {
  readonly rps: number;
  readonly burst: number;
  readonly maxConcurrent: number;
  /** Bucket per (tenant, tool); default: rps and burst above. */
  readonly perTenant?: { readonly rps: number; readonly burst: number };
}

export interface ToolBreaker {
  readonly errorThresholdPercentage: number;
  readonly resetTimeoutMs: number;
  readonly volumeThreshold: number;
}

export interface ToolDefinition {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly args: JsonSchema;
  readonly result: JsonSchema;
  readonly endpoint: ToolEndpoint;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly idempotent: boolean;
  readonly essential: boolean;
  /** Price per call, decimal string (never a float). */
  readonly costUsd: string;
  readonly rateLimit: ToolRateLimit;
  /** `host` (any port) or `host:port`. Optional in the file for MCP stdio tools (then empty). */
  readonly allowedHosts: readonly string[];
  readonly breaker?: ToolBreaker;
}

export interface ValidationIssue {
  /** JSON pointer into the validated value ('' = the value itself). */
  readonly instancePath: string;
  /** JSON pointer into the tool's schema, e.g. `#/properties/query/type`. */
  readonly schemaPath: string;
  readonly keyword: string;
  readonly message: string;
}

export type ValidationResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly errors: string[]; readonly issues: ValidationIssue[] };

export interface OpenAIFunctionTool {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description: string; readonly parameters: JsonSchema };
}

interface CompiledTool {
  readonly def: ToolDefinition;
  readonly args: ValidateFunction;
  readonly result: ValidateFunction;
}

/** Ajv for user-supplied tool schemas: lenient about unknown keywords, strict about data. */
export function userSchemaAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv;
}

function issuesOf(errors: readonly ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => {
    let instancePath = e.instancePath;
    let message = e.message ?? 'is invalid';
    // Point at the offending property itself, which is what a caller has to fix.
    if (e.keyword === 'required') {
      instancePath = `${instancePath}/${(e.params as { missingProperty: string }).missingProperty}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      instancePath = `${instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`;
      message = 'is not allowed (additional property)';
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return { instancePath, schemaPath: e.schemaPath, keyword: e.keyword, message };
  });
}

export function formatIssue(i: ValidationIssue): string {
  return `${i.instancePath || '/'} ${i.message} (schema ${i.schemaPath})`;
}

function runValidator(validate: ValidateFunction, value: unknown): ValidationResult {
  if (validate(value)) return { ok: true };
  const issues = issuesOf(validate.errors);
  return { ok: false, errors: issues.map(formatIssue), issues };
}

/** Lower-cased `host[:port]` as URL.host reports it (default ports elided). */
function normaliseHost(h: string): string {
  return h.trim().toLowerCase();
}

/**
 * True when the URL's host is allowlisted: an entry `host` allows any port of that host,
 * `host:port` only that port. Used at load time and by the sandbox for redirects.
 */
export function hostAllowed(url: string | URL, allowedHosts: readonly string[]): boolean {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return false;
  }
  const hostname = u.hostname.toLowerCase();
  const port = u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '');
  for (const raw of allowedHosts) {
    const entry = normaliseHost(raw);
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!m) continue;
    if (m[1] !== hostname) continue;
    if (m[2] === undefined || m[2] === port) return true;
  }
  return false;
}

export class ToolRegistry {
  private readonly tools = new Map<string, CompiledTool>();

  constructor(
    readonly version: number,
    /** Where the definitions came from, for messages. */
    readonly source: string,
    compiled: readonly CompiledTool[],
  ) {
    for (const c of compiled) this.tools.set(c.def.name, c);
  }

  get(name: string): ToolDefinition | undefined {
    return this.tools.get(name)?.def;
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  names(): string[] {
    return [...this.tools.keys()];
  }

  list(): ToolDefinition[] {
    return [...this.tools.values()].map((c) => c.def);
  }

  validateArgs(name: string, args: unknown): ValidationResult {
    const c = this.tools.get(name);
    if (!c) return unknownTool(name);
    return runValidator(c.args, args);
  }

  validateResult(name: string, result: unknown): ValidationResult {
    const c = this.tools.get(name);
    if (!c) return unknownTool(name);
    return runValidator(c.result, result);
  }

  /** The registry (or the `allowed` subset, unknown names ignored) as OpenAI `tools`. */
  toOpenAIFunctions(allowed?: readonly string[]): OpenAIFunctionTool[] {
    const allow = allowed ? new Set(allowed) : undefined;
    return this.list()
      .filter((t) => !allow || allow.has(t.name))
      .map((t) => {
        const { $schema: _s, $id: _i, ...parameters } = t.args;
        return { type: 'function' as const, function: { name: t.name, description: t.description, parameters } };
      });
  }
}

function unknownTool(name: string): ValidationResult {
  const issue: ValidationIssue = { instancePath: '', schemaPath: '', keyword: 'unknown_tool', message: `unknown tool "${name}"` };
  return { ok: false, errors: [issue.message], issues: [issue] };
}

let fileValidator: ValidateFunction | undefined;

/**
 * Builds a registry from already-parsed tools.yaml content. `label` names the source in
 * errors (normally the file path). Throws one ConfigFileError listing every problem.
 */
export function createToolRegistry(data: unknown, label = 'tools.yaml'): ToolRegistry {
  fileValidator ??= configAjv().compile(toolsFileSchema);
  const problems = validateConfig(fileValidator, data, label, (segs, d) => {
    if (segs[0] === 'tools' && segs.length >= 2) {
      return { item: itemLabel('tool', (d as { tools?: unknown }).tools, Number(segs[1]), 'name'), consumed: 2 };
    }
    return { consumed: 0 };
  });
  if (problems.length > 0) throw new ConfigFileError(label, problems);

  const file = data as { version: number; tools: ToolDefinition[] };
  const ajv = userSchemaAjv();
  const compiled: CompiledTool[] = [];
  const seen = new Set<string>();
  file.tools.forEach((def, i) => {
    const item = itemLabel('tool', file.tools, i, 'name');
    const at = (msg: string) => problems.push(`${label}: ${item}: ${msg}`);
    if (seen.has(def.name)) at(`name "${def.name}" is declared more than once`);
    seen.add(def.name);
    if (def.args.type !== 'object') at('args must be a JSON Schema with type "object"');
    const compile = (field: 'args' | 'result'): ValidateFunction | undefined => {
      try {
        return ajv.compile(def[field]);
      } catch (err) {
        at(`${field} is not a valid JSON Schema: ${(err as Error).message}`);
        return undefined;
      }
    };
    const args = compile('args');
    const result = compile('result');
    const raw = endpointUrl(def.endpoint);
    const allowedHosts = def.allowedHosts ?? [];
    if (raw !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(raw);
      } catch {
        at(`endpoint.url is not a valid URL (got ${JSON.stringify(raw)})`);
      }
      if (url && !hostAllowed(url, allowedHosts)) {
        at(`endpoint.url host "${url.host}" is not in allowedHosts (${allowedHosts.join(', ')})`);
      }
    }
    if (args && result) compiled.push({ def: Object.freeze({ ...def, allowedHosts }), args, result });
  });
  if (problems.length > 0) throw new ConfigFileError(label, problems);
  return new ToolRegistry(file.version, label, compiled);
}

/** Loads and validates tools.yaml at `filePath`; errors name the file, tool and field. */
export function loadToolRegistry(filePath: string): ToolRegistry {
  return createToolRegistry(readYamlFile(filePath), filePath);
}
