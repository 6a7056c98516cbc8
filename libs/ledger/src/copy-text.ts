import { decimalFromUnits } from '@agentplane/contracts';
import type { ColumnSpec, Row, TableSpec, Value } from './projection';

/** One value in COPY text format (\\N for NULL, backslash escapes). */
export function copyText(col: ColumnSpec, v: Value): string {
  if (v === null) return '\\N';
  switch (col.type) {
    case 'money':
      return decimalFromUnits(v as bigint);
    case 'time':
      return new Date(v as number).toISOString();
    case 'bool':
      return v ? 't' : 'f';
    case 'text':
      return String(v).replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r'));
    default:
      return String(v);
  }
}

/** One row as a COPY text line (no newline). */
export function copyLine(t: TableSpec, r: Row): string {
  // join() yields a flat string; `+=` would keep a rope of ~35 pieces per line alive, which at
  // a million retained lines made garbage collection dominate a rebuild.
  const cols = t.columns;
  const parts = new Array<string>(cols.length);
  for (let i = 0; i < cols.length; i++) parts[i] = copyText(cols[i], r[cols[i].name]);
  return parts.join('\t');
}
