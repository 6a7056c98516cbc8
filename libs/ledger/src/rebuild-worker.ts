// The fold half of a rebuild, on its own thread: records arrive as one concatenated buffer
// plus lengths; decoded, turned into facts, folded into a MemoryProjection. On `finish` the
// result (ledger COPY lines, aggregate rows, dedupe ids, counts) goes back to the reader.
import { parentPort } from 'node:worker_threads';
import { PriceBook, type PriceVersion } from './price-book';
import { AGGREGATES, MemoryProjection } from './projection';
import { projector } from './rebuild';

export type WorkerIn =
  | { kind: 'init'; prices: PriceVersion[] }
  | { kind: 'records'; data: Uint8Array; lengths: Uint32Array }
  | { kind: 'finish' };

export interface WorkerOut {
  ledger: string[];
  otherIds: string[];
  tables: Array<[string, Array<Record<string, unknown>>]>;
  applied: number;
  duplicates: number;
  invalid: number;
  ignored: number;
}

let mem: MemoryProjection | undefined;
let fold: ReturnType<typeof projector> | undefined;

parentPort!.on('message', (msg: WorkerIn) => {
  if (msg.kind === 'init') {
    mem = new MemoryProjection(new PriceBook(msg.prices));
    fold = projector(mem);
    return;
  }
  if (msg.kind === 'records') {
    const buf = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    let at = 0;
    for (const len of msg.lengths) {
      fold!.onRecord({ topic: '', partition: 0, offset: '0', value: buf.subarray(at, at + len), headers: {} });
      at += len;
    }
    return;
  }
  const out: WorkerOut = {
    ledger: mem!.ledger,
    otherIds: mem!.otherIds,
    tables: AGGREGATES.map((t) => [t.name, mem!.rows(t)]),
    applied: mem!.applied,
    duplicates: mem!.duplicates,
    invalid: fold!.stats.invalid,
    ignored: fold!.stats.ignored,
  };
  parentPort!.postMessage(out);
});
