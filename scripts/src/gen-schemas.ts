/**
 * Writes the generated wire contract from the class-validator declarations in libs/contracts:
 *   schemas/events/<type>.json   one JSON Schema (draft-07) per event type: envelope + data
 *   schemas/asyncapi.yaml        AsyncAPI 3.0: the four topics and their messages
 * `--check` writes nothing and exits 1 listing stale, missing or extra files (CI runs it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import {
  EVENT_TYPES,
  EVENT_TYPE_NAMES,
  EventType,
  SAMPLE_DATA,
  STRUCTURED_CONTENT_TYPE,
  TOPIC_KINDS,
  TopicKind,
  deterministicEventId,
  eventSchema,
  makeEvent,
  topicName,
} from '@agentplane/contracts';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EVENTS_DIR = 'schemas/events';
const ASYNCAPI = 'schemas/asyncapi.yaml';
const DOCS = 'docs/events.md';
const BEGIN = '<!-- BEGIN GENERATED EXAMPLES (scripts/src/gen-schemas.ts) -->';
const END = '<!-- END GENERATED EXAMPLES -->';

/** A fixed, valid example event per type (ids and time pinned so the output is stable). */
export function exampleEvent(type: EventType): object {
  const source = type.startsWith('agentplane.session.requested') || type === 'agentplane.session.cancel-requested' ? 'agentplane/gateway' : `agentplane/${sourceService(type)}`;
  return makeEvent(type, SAMPLE_DATA[type] as never, {
    source,
    id: deterministicEventId('agentplane.example', type),
    time: '2026-01-31T12:00:00.000Z',
  });
}

function sourceService(type: EventType): string {
  if (type.startsWith('agentplane.tool.call.admitted') || type.startsWith('agentplane.tool.call.deferred') || type.startsWith('agentplane.tool.call.rejected')) return 'rate-limiter';
  if (type.startsWith('agentplane.tool.call.succeeded') || type.startsWith('agentplane.tool.call.failed') || type === 'agentplane.tool.circuit.changed') return 'executor';
  if (type.startsWith('agentplane.budget.') || type === 'agentplane.planner.mode.changed') return 'cost-accounting';
  return 'planner';
}

function messageKey(type: EventType): string {
  return type
    .replace(/^agentplane\./, '')
    .split(/[.-]/)
    .map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1)))
    .join('');
}

const CHANNEL: Record<TopicKind, { key: string; description: string; keyDescription: string; op: { id: string; action: 'send' | 'receive'; summary: string } }> = {
  'session-requests': {
    key: 'sessionRequests',
    description: 'Commands from producers (gateway, kcat, any Kafka client). Key: session id.',
    keyDescription: 'session id',
    op: { id: 'sendSessionRequest', action: 'send', summary: 'Ask for a session, or for its cancellation.' },
  },
  'session-events': {
    key: 'sessionEvents',
    description: 'The log: every fact about every session, in order per session, retained forever. Key: session id.',
    keyDescription: 'session id',
    op: { id: 'receiveSessionEvents', action: 'receive', summary: 'Follow sessions: lifecycle, planner steps, tool calls.' },
  },
  'control-events': {
    key: 'controlEvents',
    description: 'Tenant-wide facts: budget guardrails, planner mode, tool circuits. Key: tenant id (tool name for circuit changes).',
    keyDescription: 'tenant id, or tool name for agentplane.tool.circuit.changed',
    op: { id: 'receiveControlEvents', action: 'receive', summary: 'React to guardrails, planner mode and circuit changes.' },
  },
  'dead-letters': {
    key: 'deadLetters',
    description: 'What a consumer could not accept: original bytes and headers (base64), topic/partition/offset and the reason.',
    keyDescription: 'the original message key, unchanged',
    op: { id: 'receiveDeadLetters', action: 'receive', summary: 'Inspect refused messages.' },
  },
};

function asyncApi(version: string): object {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const kind of TOPIC_KINDS) {
    const c = CHANNEL[kind];
    const types = EVENT_TYPE_NAMES.filter((t) => EVENT_TYPES[t].topic === kind);
    channels[c.key] = {
      address: topicName(kind),
      title: topicName(kind),
      description: `${c.description} The "agentplane" prefix is configurable.`,
      messages: Object.fromEntries(types.map((t) => [messageKey(t), { $ref: `#/components/messages/${messageKey(t)}` }])),
      bindings: { kafka: { topic: topicName(kind), bindingVersion: '0.5.0' } },
    };
    operations[c.op.id] = {
      action: c.op.action,
      summary: c.op.summary,
      channel: { $ref: `#/channels/${c.key}` },
      messages: types.map((t) => ({ $ref: `#/channels/${c.key}/messages/${messageKey(t)}` })),
    };
    for (const t of types) {
      messages[messageKey(t)] = {
        name: t,
        title: t,
        summary: EVENT_TYPES[t].description,
        contentType: STRUCTURED_CONTENT_TYPE.split(';')[0],
        payload: { $ref: `./events/${t}.json` },
        bindings: { kafka: { key: { type: 'string', description: c.keyDescription }, bindingVersion: '0.5.0' } },
        examples: [{ name: 'example', payload: exampleEvent(t) }],
      };
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'agentplane',
      version,
      description:
        'Events between agentplane services and its producers. Every message is a CloudEvents 1.0 event in JSON structured mode ' +
        '(binary mode with ce_* headers is accepted on input). Generated by scripts/src/gen-schemas.ts from libs/contracts; do not edit.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    defaultContentType: 'application/cloudevents+json',
    servers: { local: { host: '127.0.0.1:9092', protocol: 'kafka', description: 'The broker `npx agentplane infra up` starts (KAFKA_BROKERS).' } },
    channels,
    operations,
    components: { messages },
  };
}

/** Every generated file, path relative to the repository root → content. */
export function generatedFiles(): Map<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const files = new Map<string, string>();
  for (const t of EVENT_TYPE_NAMES) {
    files.set(`${EVENTS_DIR}/${t}.json`, JSON.stringify({ ...eventSchema(t), examples: [exampleEvent(t)] }, null, 2) + '\n');
  }
  files.set(ASYNCAPI, '# Generated by scripts/src/gen-schemas.ts (npm run schemas). Do not edit.\n' + stringify(asyncApi(pkg.version), { lineWidth: 0 }));
  const docs = docsWithExamples();
  if (docs !== undefined) files.set(DOCS, docs);
  return files;
}

/** docs/events.md with the section between the markers regenerated, so its examples cannot go stale. */
function docsWithExamples(): string | undefined {
  const abs = path.join(ROOT, DOCS);
  if (!fs.existsSync(abs)) return undefined;
  const text = fs.readFileSync(abs, 'utf8');
  const b = text.indexOf(BEGIN);
  const e = text.indexOf(END);
  if (b < 0 || e < b) return undefined;
  const parts: string[] = [];
  for (const kind of TOPIC_KINDS) {
    parts.push(`### ${topicName(kind)}\n`);
    for (const t of EVENT_TYPE_NAMES.filter((x) => EVENT_TYPES[x].topic === kind)) {
      parts.push(`#### \`${t}\`\n\n${EVENT_TYPES[t].description} Schema: [\`schemas/events/${t}.json\`](../schemas/events/${t}.json)\n\n\`\`\`json\n${JSON.stringify(exampleEvent(t), null, 2)}\n\`\`\`\n`);
    }
  }
  return `${text.slice(0, b + BEGIN.length)}\n\n${parts.join('\n')}\n${text.slice(e)}`;
}

function existingEventFiles(): string[] {
  const dir = path.join(ROOT, EVENTS_DIR);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => `${EVENTS_DIR}/${f}`) : [];
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const files = generatedFiles();
  const extra = existingEventFiles().filter((f) => !files.has(f));
  if (check) {
    const problems: string[] = [];
    for (const [rel, content] of files) {
      const abs = path.join(ROOT, rel);
      if (!fs.existsSync(abs)) problems.push(`missing: ${rel}`);
      else if (fs.readFileSync(abs, 'utf8') !== content) problems.push(`stale:   ${rel}`);
    }
    for (const rel of extra) problems.push(`extra:   ${rel}`);
    if (problems.length) {
      process.stderr.write(`schemas are out of date with libs/contracts; run \`npm run schemas\` and commit:\n  ${problems.join('\n  ')}\n`);
      return 1;
    }
    process.stdout.write(`schemas up to date (${files.size} files)\n`);
    return 0;
  }
  let written = 0;
  for (const [rel, content] of files) {
    const abs = path.join(ROOT, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (!fs.existsSync(abs) || fs.readFileSync(abs, 'utf8') !== content) {
      fs.writeFileSync(abs, content);
      written++;
    }
  }
  for (const rel of extra) fs.rmSync(path.join(ROOT, rel));
  process.stdout.write(`schemas: ${written} written, ${extra.length} removed, ${files.size - written} unchanged\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
