import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and their
 * verifiers. Leaves are the events of the whole log in append order.
 */
const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

export function leafHash(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(LEAF).update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** Largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPow2 = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * An append-only list of leaf hashes that also keeps every complete, aligned subtree hash
 * (level k holds the roots of the perfect subtrees of 2^k leaves). A root or a proof then costs
 * O(log² n) hashes instead of rehashing all n leaves: the audit service answers proofs over
 * millions of events from memory (64 bytes per leaf).
 */
export class MerkleLog {
  private readonly levels: Buffer[][] = [[]];

  get size(): number {
    return this.levels[0].length;
  }

  append(leaf: Buffer): number {
    const index = this.levels[0].length;
    this.levels[0].push(leaf);
    let i = index;
    let k = 0;
    while (i % 2 === 1) {
      const level = this.levels[k];
      const parent = nodeHash(level[i - 1], level[i]);
      if (!this.levels[k + 1]) this.levels[k + 1] = [];
      this.levels[k + 1].push(parent);
      i = (i - 1) / 2;
      k++;
    }
    return index;
  }

  leaf(index: number): Buffer {
    const l = this.levels[0][index];
    if (!l) throw new RangeError(`no leaf ${index} (size ${this.size})`);
    return l;
  }

  /** MTH(D[a:b]). */
  private subtree(a: number, b: number): Buffer {
    const n = b - a;
    if (n === 1) return this.levels[0][a];
    if (isPow2(n) && a % n === 0) {
      const k = Math.log2(n);
      const h = this.levels[k]?.[a / n];
      if (h) return h;
    }
    const k = splitPoint(n);
    return nodeHash(this.subtree(a, a + k), this.subtree(a + k, b));
  }

  root(size: number = this.size): Buffer {
    this.checkSize(size);
    return size === 0 ? EMPTY_ROOT : this.subtree(0, size);
  }

  /** PATH(m, D[0:size]) of RFC 6962 §2.1.1. */
  inclusionProof(index: number, size: number = this.size): Buffer[] {
    this.checkSize(size);
    if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
    const path = (m: number, a: number, b: number): Buffer[] => {
      const n = b - a;
      if (n === 1) return [];
      const k = splitPoint(n);
      return m - a < k ? [...path(m, a, a + k), this.subtree(a + k, b)] : [...path(m, a + k, b), this.subtree(a, a + k)];
    };
    return path(index, 0, size);
  }

  /** PROOF(m, D[0:n]) of RFC 6962 §2.1.2: the tree of size m is a prefix of the tree of size n. */
  consistencyProof(m: number, n: number = this.size): Buffer[] {
    this.checkSize(n);
    if (!(m >= 0 && m <= n)) throw new RangeError(`cannot prove size ${m} against size ${n}`);
    if (m === 0 || m === n) return [];
    const sub = (mm: number, a: number, b: number, start: boolean): Buffer[] => {
      const size = b - a;
      if (mm === size) return start ? [] : [this.subtree(a, b)];
      const k = splitPoint(size);
      return mm <= k ? [...sub(mm, a, a + k, start), this.subtree(a + k, b)] : [...sub(mm - k, a + k, b, false), this.subtree(a, a + k)];
    };
    return sub(m, 0, n, true);
  }

  private checkSize(size: number): void {
    if (!(Number.isInteger(size) && size >= 0 && size <= this.size)) throw new RangeError(`tree size ${size} exceeds the log (${this.size})`);
  }
}

/** Root of a list of leaf hashes, straight from the definition (for tests and one-off checks). */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  const log = new MerkleLog();
  for (const l of leaves) log.append(l);
  return log.root();
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** RFC 9162 §2.1.3.2: does `proof` show leaf `index` with hash `leaf` in the tree of `size` with `root`? */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(Number.isInteger(index) && Number.isInteger(size) && index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(r, root);
}

/** RFC 9162 §2.1.4.2: is the tree (size2, root2) an append-only extension of (size1, root1)? */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!(Number.isInteger(size1) && Number.isInteger(size2) && size1 >= 0 && size1 <= size2)) return false;
  if (size1 === size2) return proof.length === 0 && eq(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = isPow2(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = path[0];
  let sr: Uint8Array = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, root1) && eq(sr, root2);
}
