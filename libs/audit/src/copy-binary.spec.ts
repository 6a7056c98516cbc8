import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CopyBinaryRows } from './copy-binary';

/** What Postgres sends for COPY (SELECT one text column) TO STDOUT (FORMAT binary). */
function copyBinary(values: string[], o: { ext?: Buffer } = {}): Buffer {
  const ext = o.ext ?? Buffer.alloc(0);
  const head = Buffer.alloc(19);
  head.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
  head.writeUInt32BE(0, 11);
  head.writeUInt32BE(ext.length, 15);
  const rows = values.map((v) => {
    const b = Buffer.from(v, 'utf8');
    const h = Buffer.alloc(6);
    h.writeInt16BE(1, 0);
    h.writeInt32BE(b.length, 2);
    return Buffer.concat([h, b]);
  });
  return Buffer.concat([head, ext, ...rows, Buffer.from([0xff, 0xff])]);
}

function read(chunks: Buffer[]): string[] {
  const r = new CopyBinaryRows();
  const out: string[] = [];
  for (const c of chunks) r.push(c, (b, s, e) => out.push(b.toString('utf8', s, e)));
  r.end();
  return out;
}

const VALUES = ['{"a":1}', '', '{"é":"ü ✓"}', 'x'.repeat(300), '{"data":{"k":[1,2,3]}}'];

describe('COPY binary rows', () => {
  it('given the stream in one chunk, then every row comes out as sent', () => {
    assert.deepEqual(read([copyBinary(VALUES)]), VALUES);
  });

  it('given the stream split at every offset (and byte by byte), then the rows are the same', () => {
    const all = copyBinary(VALUES, { ext: Buffer.from('abc') });
    for (let cut = 0; cut <= all.length; cut++) assert.deepEqual(read([all.subarray(0, cut), all.subarray(cut)]), VALUES, `cut at ${cut}`);
    assert.deepEqual(read([...all].map((b) => Buffer.from([b]))), VALUES);
  });

  it('given no rows, then none come out', () => {
    assert.deepEqual(read([copyBinary([])]), []);
  });

  it('given a truncated stream, a bad signature, a NULL or two columns, then it throws', () => {
    const all = copyBinary(VALUES);
    assert.throws(() => read([all.subarray(0, all.length - 2)]), /ended inside a row/);
    assert.throws(() => read([all.subarray(0, 10)]), /before the header/);
    const bad = Buffer.from(all);
    bad[0] = 0x51;
    assert.throws(() => read([bad]), /bad signature/);
    const nul = Buffer.concat([all.subarray(0, 19), Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
    assert.throws(() => read([nul]), /NULL/);
    const two = Buffer.concat([all.subarray(0, 19), Buffer.from([0, 2])]);
    assert.throws(() => read([two]), /expected 1 column/);
    assert.throws(() => read([all, Buffer.from([0])]), /after the trailer/);
  });
});
