/**
 * Replay guard: recorded session histories (test/fixtures/sessions) must still decode under the
 * current contracts and fold through the current decider to the final state recorded with
 * them. A change that would silently rewrite how old sessions read fails here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateEvent, type SessionEvent } from '@agentplane/contracts';
import { fold } from '@agentplane/session';

const DIR = resolve(__dirname, '../../../test/fixtures/sessions');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('replay guard: recorded sessions fold to their recorded final states', () => {
  it('has recorded sessions to guard', () => assert.ok(files.length >= 8, `fixtures in ${DIR}`));
  for (const f of files) {
    const fx = JSON.parse(readFileSync(resolve(DIR, f), 'utf8')) as { name: string; description: string; events: SessionEvent[]; final: unknown };
    it(`${fx.name}: ${fx.description}`, () => {
      fx.events.forEach((e, i) => {
        const d = validateEvent(e);
        assert.ok(d.ok, `event ${i + 1} (${e.type}) no longer decodes: ${d.ok ? '' : d.reason}`);
      });
      assert.deepEqual(fold(fx.events), fx.final);
    });
  }
});
