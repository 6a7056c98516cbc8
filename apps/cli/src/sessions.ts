// `agentplane submit` and `agentplane sessions`: clients of the gateway's HTTP API (docs/gateway.md).
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';

const TERMINAL = new Set(['completed', 'rejected', 'failed', 'cancelled']);
const POLL_MS = 500;

interface ClientOpts {
  url: string;
  key?: string;
}

interface SessionView {
  sessionId: string;
  tenantId: string;
  status: string;
  input?: string;
  answer?: string;
  errors?: string[];
  reason?: string;
  failureCode?: string;
  costUsd: string;
  inferenceCostUsd?: string;
  toolCostUsd?: string;
  stepCount: number;
  toolCallCount: number;
  createdAt: string;
  endedAt?: string;
  steps?: Array<{ step: number; status: string; outcome?: string; pass?: boolean; model?: string; latencyMs?: number; costUsd: string; errors?: string[] }>;
  toolCalls?: Array<{ callId: string; tool: string; status: string; attempts: number; latencyMs?: number; costUsd: string; code?: string; error?: string }>;
}

/** An HTTP answer or usage problem the user should see as one line (exit 1), without a stack trace. */
class CliError extends Error {}

function friendly<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      process.stderr.write(`agentplane: ${err.message}\n`);
      process.exitCode = 1;
    }
  };
}

function clientOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--key <key>', 'tenant API key').env('AGENTPLANE_API_KEY'))
    .addOption(new Option('--url <url>', 'gateway base URL').env('AGENTPLANE_GATEWAY_URL').default('http://127.0.0.1:8080'));
}

async function call(opts: ClientOpts, method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) {
  if (!opts.key) throw new CliError('no API key: pass --key or set AGENTPLANE_API_KEY (demo keys: docs/tools.md)');
  const url = new URL(path, opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${opts.key}`,
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.headers ?? {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  } catch (err) {
    throw new CliError(`cannot reach the gateway at ${opts.url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (res.status >= 400) {
    const msg = body && typeof body === 'object' ? ([] as string[]).concat(body.message ?? body.error ?? res.statusText).join('\n  ') : String(body || res.statusText);
    const hint = res.status === 401 ? ' (check --key / AGENTPLANE_API_KEY)' : '';
    throw new CliError(`${res.status} ${res.statusText}${hint}:\n  ${msg}`);
  }
  return { status: res.status, headers: res.headers, body };
}

function readStructured(file: string): unknown {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  try {
    return parseYaml(text); // YAML is a superset of JSON: either works
  } catch (err) {
    throw new CliError(`${file}: not JSON or YAML: ${(err as Error).message}`);
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

const short = (s: string | undefined, n: number) => (!s ? '' : s.length > n ? `${s.slice(0, n - 1)}…` : s).replace(/\s+/g, ' ');

function printSession(v: SessionView, detail: boolean): void {
  const out = (l = '') => process.stdout.write(`${l}\n`);
  out(`session   ${v.sessionId}`);
  out(`status    ${v.status}${v.failureCode ? ` (${v.failureCode})` : ''}`);
  out(`cost      $${v.costUsd}${v.inferenceCostUsd !== undefined ? `  (inference $${v.inferenceCostUsd}, tools $${v.toolCostUsd})` : ''}`);
  out(`steps     ${v.stepCount}   tool calls ${v.toolCallCount}`);
  if (v.reason) out(`reason    ${v.reason}`);
  for (const e of v.errors ?? []) out(`error     ${e}`);
  if (detail) {
    for (const s of v.steps ?? []) {
      out(`  step ${s.step}  ${s.status}${s.outcome ? ` ${s.outcome}` : ''}${s.pass === false ? ' (fail)' : ''}  ${s.model ?? ''}  ${s.latencyMs ?? '-'} ms  $${s.costUsd}`);
    }
    for (const c of v.toolCalls ?? []) {
      out(`  call ${c.callId}  ${c.tool}  ${c.status}${c.code ? ` (${c.code})` : ''}  attempts ${c.attempts}  ${c.latencyMs ?? '-'} ms  $${c.costUsd}`);
    }
  }
  if (v.answer !== undefined) {
    out('answer:');
    out(v.answer);
  }
}

/** Adds `submit` and `sessions` to the CLI. */
export function registerSessionCommands(program: Command): void {
  clientOptions(
    program
      .command('submit')
      .description('Start an agent session through the gateway (POST /v1/sessions)')
      .option('-f, --file <file>', 'request body as JSON or YAML ("-" for stdin); flags below override its fields')
      .option('-i, --input <text>', 'the task')
      .option('-t, --tool <name>', 'allowed tool (repeat or comma-separate)', collect)
      .option('-w, --workflow <file>', 'declared workflow, JSON or YAML: { steps: [{ calls: [{ id, tool, args }] }] }')
      .option('--budget <usd>', 'hard budget of the session, decimal USD')
      .option('--deadline-ms <ms>', 'session deadline', positiveInt)
      .option('--session-id <id>', 'your own session id')
      .addOption(new Option('--planner <kind>', 'planner').choices(['workflow', 'llm']))
      .option('--model <name>', 'model for the llm planner')
      .option('--meta <key=value>', 'metadata entry (repeatable)', keyValue)
      .option('--webhook <url>', 'completion webhook URL')
      .option('--idempotency-key <key>', 'retry-safe: the same key and body never start a second session'),
  )
    .option('--wait', 'wait until the session ends (polls after the gateway wait budget)')
    .option('--timeout <seconds>', 'give up waiting after this long (with --wait)', positiveInt, 120)
    .option('--json', 'print the session view as JSON')
    .action(friendly(async (o: ClientOpts & Record<string, any>) => {
      const body: Record<string, unknown> = o.file ? ((readStructured(o.file) as Record<string, unknown>) ?? {}) : {};
      if (typeof body !== 'object' || Array.isArray(body)) throw new CliError(`${o.file}: expected an object (the request body)`);
      if (o.input !== undefined) body.input = o.input;
      if (o.tool) body.tools = o.tool;
      if (o.workflow) {
        const wf = readStructured(o.workflow) as Record<string, unknown> | unknown[];
        body.workflow = Array.isArray(wf) ? { steps: wf } : wf;
      }
      if (o.budget !== undefined) body.budgetUsd = o.budget;
      if (o.deadlineMs !== undefined) body.deadlineMs = o.deadlineMs;
      if (o.sessionId !== undefined) body.sessionId = o.sessionId;
      if (o.planner !== undefined) body.planner = o.planner;
      if (o.model !== undefined) body.model = o.model;
      if (o.webhook !== undefined) body.webhookUrl = o.webhook;
      if (o.meta) body.metadata = { ...((body.metadata as object) ?? {}), ...o.meta };
      if (body.input === undefined) throw new CliError('nothing to submit: give --input TEXT or --file F');

      const deadline = Date.now() + o.timeout * 1000;
      const headers: Record<string, string> = {};
      if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
      // With --wait let the gateway hold the request as long as it allows; then poll.
      if (o.wait) headers.prefer = `wait=${Math.min(o.timeout, 60)}`;
      const res = await call(o, 'POST', 'v1/sessions', { body, headers });
      let view = res.body as SessionView;
      while (o.wait && !TERMINAL.has(view.status) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now())))); // poll interval
        view = (await call(o, 'GET', `v1/sessions/${encodeURIComponent(view.sessionId)}`)).body as SessionView;
      }
      if (o.json) process.stdout.write(JSON.stringify(view, null, 2) + '\n');
      else printSession(view, false);
      if (!TERMINAL.has(view.status)) {
        process.stderr.write(
          o.wait
            ? `agentplane: still ${view.status} after ${o.timeout} s\n`
            : `(still ${view.status}: agentplane sessions ${view.sessionId}, or GET ${res.headers.get('location') ?? ''})\n`,
        );
        if (o.wait) process.exitCode = 1;
      } else if (view.status !== 'completed') {
        process.exitCode = 1;
      }
    }));

  clientOptions(
    program
      .command('sessions')
      .description("Your tenant's recent sessions with status and cost, or one session in detail")
      .argument('[id]', 'show this session: steps, tool calls, answer')
      .option('-n, --limit <n>', 'how many (max 200)', positiveInt, 20)
      .addOption(new Option('--status <status>', 'only this status').choices([...TERMINAL, 'requested', 'running']))
      .option('--json', 'machine-readable output'),
  ).action(friendly(async (id: string | undefined, o: ClientOpts & { limit: number; status?: string; json?: boolean }) => {
    if (id) {
      const v = (await call(o, 'GET', `v1/sessions/${encodeURIComponent(id)}`)).body as SessionView;
      if (o.json) process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      else printSession(v, true);
      return;
    }
    const q = new URLSearchParams({ limit: String(o.limit), ...(o.status ? { status: o.status } : {}) });
    const { sessions } = (await call(o, 'GET', `v1/sessions?${q}`)).body as { sessions: SessionView[] };
    if (o.json) {
      process.stdout.write(JSON.stringify(sessions, null, 2) + '\n');
      return;
    }
    const idw = Math.max(7, ...sessions.map((s) => s.sessionId.length));
    const costw = Math.max(9, ...sessions.map((s) => s.costUsd.length + 1));
    const lines = [`${'SESSION'.padEnd(idw)}  ${'STATUS'.padEnd(9)}  ${'COST USD'.padStart(costw)}  STEPS  CALLS  CREATED              INPUT`];
    for (const s of sessions) {
      lines.push(
        `${s.sessionId.padEnd(idw)}  ${s.status.padEnd(9)}  ${`$${s.costUsd}`.padStart(costw)}  ${String(s.stepCount).padStart(5)}  ${String(s.toolCallCount).padStart(5)}  ${s.createdAt.replace('T', ' ').slice(0, 19)}  ${short(s.input, 40)}`,
      );
    }
    if (sessions.length === 0) lines.push('(no sessions yet)');
    process.stdout.write(lines.join('\n') + '\n');
  }));
}
