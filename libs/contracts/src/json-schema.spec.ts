import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { EVENT_TYPE_NAMES, decode, eventSchema } from './index';

// dist/libs/contracts/src → repository root
const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

describe('generated JSON Schemas', () => {
  it('given every type then its schema is self-contained draft-07 with $id = dataschema', () => {
    for (const t of EVENT_TYPE_NAMES) {
      const s = eventSchema(t);
      assert.equal(s.$id, `https://agentplane.dev/schemas/events/${t}.json`);
      assert.equal((s.properties as Record<string, { const?: string }>).type.const, t);
      for (const [, name] of JSON.stringify(s).matchAll(/"#\/definitions\/([A-Za-z]+)"/g)) {
        assert.ok((s.definitions as Record<string, unknown>)[name], `${t}: dangling ${name}`);
      }
    }
  });

  it('given the committed schemas/events files then a fresh strict Ajv compiles each and its example passes, as decode does', () => {
    const ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true });
    addFormats(ajv);
    for (const t of EVENT_TYPE_NAMES) {
      const file = path.join(ROOT, 'schemas', 'events', `${t}.json`);
      assert.ok(fs.existsSync(file), `missing ${file}: run npm run schemas`);
      const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as { examples: unknown[] };
      const validate = ajv.compile(schema);
      for (const ex of schema.examples) {
        assert.equal(validate(ex), true, `${t}: ${JSON.stringify(validate.errors)}`);
        const r = decode(Buffer.from(JSON.stringify(ex)));
        assert.equal(r.ok, true, r.ok ? '' : r.reason);
      }
    }
  });
});
