/**
 * JSON Schemas of the three config files. Declared once here (the loaders compile these) and
 * written verbatim to `schemas/config/*.schema.json` for editors and external tooling; a test
 * keeps the committed files identical to these objects.
 */

/** Non-negative decimal string: money is never a float in config. */
export const DECIMAL_PATTERN = '^(0|[1-9][0-9]*)(\\.[0-9]+)?$';
/** OpenAI function names allow exactly this, so registry names must too. */
export const TOOL_NAME_PATTERN = '^[a-zA-Z0-9_-]{1,64}$';
export const API_KEY_HASH_PATTERN = '^sha256:[0-9a-f]{64}$';
export const SECRET_REF_PATTERN = '^env:[A-Za-z_][A-Za-z0-9_]*$';
/** host or host:port; IPv6 literals in brackets. */
export const HOST_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$';

const SCHEMA_BASE = 'https://agentplane.dev/schemas/config/';

export const toolsFileSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: `${SCHEMA_BASE}tools.schema.json`,
  title: 'agentplane tools.yaml',
  description: 'Tool registry: every tool an agent may call, with its contract and limits.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'tools'],
  properties: {
    version: { type: 'integer', minimum: 1, description: 'Version of this file; bump on every change.' },
    tools: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'name',
          'version',
          'description',
          'args',
          'result',
          'endpoint',
          'timeoutMs',
          'retries',
          'idempotent',
          'essential',
          'costUsd',
          'rateLimit',
        ],
        // allowedHosts: required for everything that connects over the network (all but MCP stdio).
        if: { properties: { endpoint: { properties: { transport: { const: 'stdio' } }, required: ['transport'] } }, required: ['endpoint'] },
        else: { properties: { allowedHosts: true }, required: ['allowedHosts'] },
        properties: {
          name: { type: 'string', pattern: TOOL_NAME_PATTERN },
          version: { type: 'string', minLength: 1 },
          description: { type: 'string', minLength: 1 },
          args: { type: 'object', description: 'JSON Schema of the arguments (an object schema).' },
          result: { type: 'object', description: 'JSON Schema of the result body.' },
          endpoint: {
            type: 'object',
            required: ['kind'],
            properties: {
              kind: { enum: ['http', 'mcp'] },
            },
            allOf: [
              {
                if: { properties: { kind: { const: 'http' } } },
                then: {
                  additionalProperties: false,
                  required: ['kind', 'method', 'url'],
                  properties: {
                    kind: { const: 'http' },
                    method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
                    url: { type: 'string', pattern: '^https?://[^\\s]+$' },
                  },
                },
              },
              {
                if: { properties: { kind: { const: 'mcp' } } },
                then: {
                  required: ['kind', 'transport', 'tool'],
                  properties: {
                    kind: { const: 'mcp' },
                    transport: { enum: ['stdio', 'http'] },
                    tool: { type: 'string', minLength: 1, description: 'Name of the tool on the MCP server.' },
                  },
                  allOf: [
                    {
                      if: { properties: { transport: { const: 'stdio' } } },
                      then: {
                        additionalProperties: false,
                        required: ['command'],
                        properties: {
                          kind: true,
                          transport: true,
                          tool: true,
                          command: { type: 'string', minLength: 1, description: 'Executable that serves MCP on stdin/stdout.' },
                          args: { type: 'array', items: { type: 'string' } },
                          env: {
                            type: 'object',
                            description: 'Environment of the server process; a value "env:NAME" is read from the executor\'s environment.',
                            additionalProperties: { type: 'string' },
                          },
                          cwd: { type: 'string', minLength: 1 },
                        },
                      },
                    },
                    {
                      if: { properties: { transport: { const: 'http' } } },
                      then: {
                        additionalProperties: false,
                        required: ['url'],
                        properties: {
                          kind: true,
                          transport: true,
                          tool: true,
                          url: { type: 'string', pattern: '^https?://[^\\s]+$', description: 'Streamable HTTP endpoint of the MCP server.' },
                        },
                      },
                    },
                  ],
                },
              },
            ],
          },
          timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
          retries: { type: 'integer', minimum: 0, maximum: 10 },
          idempotent: { type: 'boolean' },
          essential: { type: 'boolean' },
          costUsd: { type: 'string', pattern: DECIMAL_PATTERN, description: 'Price per call, decimal string.' },
          rateLimit: {
            type: 'object',
            additionalProperties: false,
            required: ['rps', 'burst', 'maxConcurrent'],
            properties: {
              rps: { type: 'number', exclusiveMinimum: 0 },
              burst: { type: 'integer', minimum: 1 },
              maxConcurrent: { type: 'integer', minimum: 1 },
              perTenant: {
                type: 'object',
                additionalProperties: false,
                required: ['rps', 'burst'],
                description: 'Token bucket per (tenant, tool); default: the tool bucket\'s rps and burst.',
                properties: {
                  rps: { type: 'number', exclusiveMinimum: 0 },
                  burst: { type: 'integer', minimum: 1 },
                },
              },
            },
          },
          allowedHosts: { type: 'array', minItems: 1, items: { type: 'string', pattern: HOST_PATTERN } },
          breaker: {
            type: 'object',
            additionalProperties: false,
            required: ['errorThresholdPercentage', 'resetTimeoutMs', 'volumeThreshold'],
            properties: {
              errorThresholdPercentage: { type: 'number', minimum: 1, maximum: 100 },
              resetTimeoutMs: { type: 'integer', minimum: 1 },
              volumeThreshold: { type: 'integer', minimum: 0 },
            },
          },
        },
      },
    },
  },
} as const;

export const tenantsFileSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: `${SCHEMA_BASE}tenants.schema.json`,
  title: 'agentplane tenants.yaml',
  description: 'Tenants (producers) and analyst keys. Keys are stored only as sha256 hashes.',
  type: 'object',
  additionalProperties: false,
  required: ['tenants'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    tenants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'apiKeyHash', 'monthlyForecastUsd'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
          name: { type: 'string', minLength: 1 },
          apiKeyHash: { type: 'string', pattern: API_KEY_HASH_PATTERN },
          monthlyForecastUsd: { type: 'string', pattern: DECIMAL_PATTERN },
          guardrailPct: { type: 'number', minimum: 0, maximum: 1000, default: 15 },
          webhookSecret: { type: 'string', pattern: SECRET_REF_PATTERN },
          role: { enum: ['producer', 'admin'], default: 'producer' },
        },
      },
    },
    analystKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'apiKeyHash'],
        properties: {
          name: { type: 'string', minLength: 1 },
          apiKeyHash: { type: 'string', pattern: API_KEY_HASH_PATTERN },
        },
      },
    },
  },
} as const;

export const pricesFileSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: `${SCHEMA_BASE}prices.schema.json`,
  title: 'agentplane prices.yaml',
  description: 'Model prices in USD per million tokens, decimal strings.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'models'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    models: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['inputPer1M', 'outputPer1M'],
        properties: {
          inputPer1M: { type: 'string', pattern: DECIMAL_PATTERN },
          outputPer1M: { type: 'string', pattern: DECIMAL_PATTERN },
        },
      },
    },
  },
} as const;

export const CONFIG_SCHEMAS = {
  'tools.schema.json': toolsFileSchema,
  'tenants.schema.json': tenantsFileSchema,
  'prices.schema.json': pricesFileSchema,
} as const;

/** Serialised exactly as committed under schemas/config/ (2-space JSON + newline). */
export function configSchemaText(file: keyof typeof CONFIG_SCHEMAS): string {
  return `${JSON.stringify(CONFIG_SCHEMAS[file], null, 2)}\n`;
}
