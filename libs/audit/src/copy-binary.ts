/**
 * Reader for `COPY ... TO STDOUT (FORMAT binary)` of a single non-null column, as the chunks
 * of the copy stream arrive (a row can straddle chunks). Binary rather than text format so the
 * column's bytes arrive as stored: no backslash escapes to undo.
 *
 * Layout (PostgreSQL docs, "COPY", binary format): an 11-byte signature, int32 flags, int32
 * header-extension length and that many bytes; per row int16 field count, then per field int32
 * length (-1 for NULL) and the bytes; int16 -1 as the trailer. Integers are big-endian.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = SIGNATURE.length + 8;

export class CopyBinaryRows {
  private rest: Buffer | null = null;
  private headerRead = false;
  private done = false;
  /** Rows delivered so far. */
  rows = 0;

  /**
   * Calls `onRow(buf, start, end)` for each complete row in `chunk` (plus what was left over
   * from the previous chunk); `buf` is only valid during the call.
   */
  push(chunk: Buffer, onRow: (buf: Buffer, start: number, end: number) => void): void {
    if (this.done) {
      if (chunk.length > 0) throw new Error('COPY binary: data after the trailer');
      return;
    }
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let p = 0;
    if (!this.headerRead) {
      if (buf.length < HEADER) return this.keep(buf, 0);
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('COPY binary: bad signature');
      if ((buf.readUInt32BE(SIGNATURE.length) & 0x10000) !== 0) throw new Error('COPY binary: rows carry OIDs');
      const ext = buf.readUInt32BE(SIGNATURE.length + 4);
      if (buf.length < HEADER + ext) return this.keep(buf, 0);
      p = HEADER + ext;
      this.headerRead = true;
    }
    const n = buf.length;
    while (n - p >= 2) {
      const fields = buf.readInt16BE(p);
      if (fields === -1) {
        this.done = true;
        if (p + 2 !== n) throw new Error('COPY binary: data after the trailer');
        return;
      }
      if (fields !== 1) throw new Error(`COPY binary: expected 1 column, got ${fields}`);
      if (n - p < 6) break;
      const len = buf.readInt32BE(p + 2);
      if (len < 0) throw new Error('COPY binary: unexpected NULL');
      if (n - p - 6 < len) break;
      onRow(buf, p + 6, p + 6 + len);
      this.rows++;
      p += 6 + len;
    }
    this.keep(buf, p);
  }

  /** Throws unless the stream ended with the trailer. */
  end(): void {
    if (!this.done) throw new Error(`COPY binary: stream ended ${this.headerRead ? 'inside a row' : 'before the header'} (after ${this.rows} rows)`);
  }

  private keep(buf: Buffer, from: number): void {
    // A copy, so the (large) chunk this tail came from can be collected.
    if (from < buf.length) this.rest = Buffer.from(buf.subarray(from));
  }
}
