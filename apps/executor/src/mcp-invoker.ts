import { performance } from 'node:perf_hooks';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { blockedReasonOf, checkUrl, sandboxDispatcher, type SandboxPolicy } from '@agentplane/sandbox';
import type { InvokeOutcome, McpEndpoint, ToolDefinition } from '@agentplane/tools';

/** Where the call's idempotency key travels: the request's `_meta` (MCP has no headers). */
export const IDEMPOTENCY_META = 'agentplane.dev/idempotency-key';
/** Redirects the HTTP transport follows per request, each re-checked by the sandbox. */
const MAX_REDIRECTS = 3;

/** An MCP attempt's end: the HTTP shapes, plus a tool-level error (`isError` or a JSON-RPC error). */
export type McpOutcome = InvokeOutcome | { readonly kind: 'tool_error'; readonly message: string; readonly latencyMs: number };

export interface McpCallOptions {
  readonly idempotencyKey: string;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

interface Connection {
  readonly client: Client;
  /** Settles once the initialize handshake is done (or failed). */
  readonly ready: Promise<void>;
}

class SetupError extends Error {}

/**
 * MCP endpoints (stdio / streamable HTTP) through @modelcontextprotocol/sdk: one client per
 * server, shared by every call and tool it serves, reconnected after it closes. Each call has
 * its own abort (the per-call timeout and the caller's signal): the SDK then sends
 * `notifications/cancelled` and drops the request, like an aborted HTTP socket.
 */
@Injectable()
export class McpClients implements OnApplicationShutdown {
  private readonly log = new Logger('McpClients');
  private readonly clients = new Map<string, Connection>();
  private closing = false;

  async invoke(tool: ToolDefinition, args: unknown, opts: McpCallOptions): Promise<McpOutcome> {
    const started = performance.now();
    const latencyMs = () => Math.round((performance.now() - started) * 1000) / 1000;
    const ep = tool.endpoint;
    if (ep.kind !== 'mcp') return { kind: 'network', retriable: false, sent: false, code: 'EBLOCKED', message: `${tool.name} is not an MCP tool`, latencyMs: latencyMs() };
    if (opts.signal.aborted) return { kind: 'cancelled', sent: false, latencyMs: latencyMs() };
    if (ep.transport === 'http') {
      // The same sandbox rules as HTTP tools: scheme, allowlist, special addresses (again at connect).
      const v = checkUrl(ep.url, tool);
      if (!v.ok) return { kind: 'network', retriable: false, sent: false, code: 'EBLOCKED', message: v.reason, latencyMs: latencyMs() };
    }

    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error('timeout')), opts.timeoutMs);
    const signal = AbortSignal.any([opts.signal, timeout.signal]);
    let sent = false;
    try {
      const conn = this.connection(tool, ep);
      await raceAbort(conn.ready, signal);
      sent = true; // from here on the request may reach the server: a lost answer means "unknown"
      const r = await conn.client.callTool(
        { name: ep.tool, arguments: (args ?? {}) as Record<string, unknown>, _meta: { [IDEMPOTENCY_META]: opts.idempotencyKey } },
        undefined,
        // Our own signal ends it; the SDK's timer is only a backstop.
        { signal, timeout: opts.timeoutMs + 5_000 },
      );
      if (r.isError) {
        return { kind: 'tool_error', message: `MCP tool ${ep.tool} reported an error: ${textOf(r.content)}`, latencyMs: latencyMs() };
      }
      const body = r.structuredContent ?? { content: r.content };
      return { kind: 'ok', status: 200, body, latencyMs: latencyMs() };
    } catch (err) {
      if (opts.signal.aborted) return { kind: 'cancelled', sent, latencyMs: latencyMs() };
      if (timeout.signal.aborted) return { kind: 'timeout', sent, latencyMs: latencyMs() };
      if (err instanceof SetupError) return { kind: 'network', retriable: false, sent: false, code: 'EMCPCONFIG', message: err.message, latencyMs: latencyMs() };
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return { kind: 'timeout', sent, latencyMs: latencyMs() };
      if (err instanceof McpError && err.code !== ErrorCode.ConnectionClosed) {
        // The server answered with a JSON-RPC error (unknown tool, invalid params, ...): not retried.
        return { kind: 'tool_error', message: `MCP server refused ${ep.tool}: ${err.message}`, latencyMs: latencyMs() };
      }
      const why = blockedReasonOf(err);
      const message = why ?? (err as Error).message ?? String(err);
      const blocked = why !== undefined || /EBLOCKED/.test(message);
      return {
        kind: 'network',
        // Nothing sent: safe to retry. Sent and lost: only an idempotent tool may run again.
        retriable: !blocked && (!sent || tool.idempotent),
        sent,
        code: blocked ? 'EBLOCKED' : 'EMCP',
        message: `MCP ${describeEndpoint(ep)}: ${message}`,
        latencyMs: latencyMs(),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.client.close().catch(() => undefined)));
  }

  private connection(tool: ToolDefinition, ep: McpEndpoint): Connection {
    // The HTTP sandbox policy is the tool's, so tools with different allowlists get their own client.
    const id = JSON.stringify(ep.transport === 'stdio' ? [ep.command, ep.args ?? [], ep.env ?? {}, ep.cwd ?? ''] : [ep.url, [...tool.allowedHosts].sort()]);
    const existing = this.clients.get(id);
    if (existing) return existing;
    const client = new Client({ name: 'agentplane-executor', version: '1.0.0' });
    const forget = () => {
      if (this.clients.get(id)?.client === client) this.clients.delete(id);
    };
    client.onclose = () => {
      forget();
      if (!this.closing) this.log.warn(`MCP ${describeEndpoint(ep)} closed; the next call reconnects`);
    };
    const ready = (async () => {
      const transport = ep.transport === 'stdio' ? new StdioClientTransport({ command: ep.command, args: [...(ep.args ?? [])], env: serverEnv(ep.env), ...(ep.cwd ? { cwd: ep.cwd } : {}), stderr: 'inherit' }) : httpTransport(ep.url, tool);
      await client.connect(transport);
    })();
    ready.catch((err: unknown) => {
      forget();
      this.log.warn(`MCP ${describeEndpoint(ep)}: connect failed: ${(err as Error).message}`);
      void client.close().catch(() => undefined);
    });
    const conn = { client, ready };
    this.clients.set(id, conn);
    return conn;
  }
}

/** The server's environment: the SDK's safe defaults plus the endpoint's, `env:NAME` resolved. */
function serverEnv(env: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out = getDefaultEnvironment();
  for (const [k, v] of Object.entries(env ?? {})) {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(v);
    if (m) {
      const value = process.env[m[1]!];
      if (value === undefined) throw new SetupError(`environment variable ${m[1]} (for the server's ${k}) is not set`);
      out[k] = value;
    } else {
      out[k] = v;
    }
  }
  return out;
}

/**
 * Streamable HTTP through the sandbox: every request's URL is checked, connections go through the
 * DNS-checking dispatcher, and only method-preserving redirects (307/308) are followed, each re-checked.
 */
function httpTransport(url: string, policy: SandboxPolicy): StreamableHTTPClientTransport {
  const dispatcher = sandboxDispatcher(policy);
  const guardedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let target = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    for (let hop = 0; ; hop++) {
      const v = checkUrl(target, policy);
      if (!v.ok) throw Object.assign(new Error(`EBLOCKED: ${v.reason}`), { code: 'EBLOCKED' });
      const res = await fetch(target, { ...init, redirect: 'manual', dispatcher } as RequestInit);
      const location = res.headers.get('location');
      if ((res.status !== 307 && res.status !== 308) || !location || hop >= MAX_REDIRECTS) return res;
      target = new URL(location, target);
    }
  };
  return new StreamableHTTPClientTransport(new URL(url), { fetch: guardedFetch });
}

function describeEndpoint(ep: McpEndpoint): string {
  return ep.transport === 'stdio' ? `stdio server "${[ep.command, ...(ep.args ?? [])].join(' ').slice(0, 200)}"` : `server ${ep.url}`;
}

function textOf(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((c: { type?: string; text?: string }) => (c.type === 'text' ? c.text : `[${c.type}]`))
    .join(' ')
    .slice(0, 1000);
}

/** Rejects as soon as `signal` aborts (the handshake itself cannot be cancelled). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
