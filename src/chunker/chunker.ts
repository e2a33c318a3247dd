/**
 * restic's content-defined chunker (github.com/restic/chunker v0.4.0): a Rabin fingerprint
 * over a 64-byte window. A chunk ends after the byte where the low `averageBits` bits of
 * the digest are zero, or at MaxSize; never before MinSize. The first MinSize−64 bytes of
 * each chunk are not hashed at all, and the state is reset after every cut.
 *
 * Ranges of ≥ 1 KiB are scanned by a WebAssembly loop (wasm.ts) that runs four lanes of
 * the range side by side (≈3× the single JS loop); short ones by the JS ring loop below.
 * Between calls the chunker keeps the window (last 64 hashed bytes) and the digest, which
 * JS holds as two int32 halves (< 2^53 between bytes, < 2^61 mid-update) so no per-byte
 * code touches BigInt; the fingerprint is turned into a bigint only at cuts.
 */
import { readSync } from 'node:fs';
import { deg, mod } from './polynomial.js';
import { DATA, DIG, HEAD, LANES, MOD, OUT, PIECE, STRIDE, mem, scanner, words, type ScanFn, type Scanner } from './wasm.js';

const WINDOW_SIZE = 64;
export const MIN_SIZE = 512 * 1024;
export const MAX_SIZE = 8 * 1024 * 1024;
const AVERAGE_BITS = 20;

/** The byte restic slides in at every reset. */
const ONE = new Uint8Array([1]);

export interface ChunkerOptions {
  /** Smallest chunk (except a stream's last); ≥ 64. Default 512 KiB. */
  minSize?: number;
  /** Largest chunk; ≥ minSize. Default 8 MiB. */
  maxSize?: number;
  /** Cut where the digest's low `averageBits` bits are zero (0–32). Default 20. */
  averageBits?: number;
}

/** A chunk of an in-memory buffer. */
export interface ChunkBoundary {
  offset: number;
  length: number;
  /** The fingerprint at the cut (restic's `Chunk.Cut`). */
  cut: bigint;
}

/** A chunk's bytes with its position in the stream. */
export interface ChunkData {
  data: Uint8Array;
  offset: number;
  cut: bigint;
}

/** Per-polynomial tables split into int32 halves: hi = bits 32–63, lo = bits 0–31. */
interface Tables {
  outHi: Int32Array;
  outLo: Int32Array;
  modHi: Int32Array;
  modLo: Int32Array;
  /** polShift − 32: the table index is `hi >>> hiShift`. */
  hiShift: number;
}

const tableCache = new Map<bigint, Tables>();

/**
 * The tables of the polynomial in use, read by the JS ring loop. V8 compiles module-level
 * constant arrays as constants (known length 256: no bounds checks for byte indices), which
 * makes the loop ~1.7× faster than reading per-chunker arrays; next() copies its tables in
 * (4 KiB) only when a chunker with another polynomial ran last.
 */
const OUT_HI = new Int32Array(256);
const OUT_LO = new Int32Array(256);
const MOD_HI = new Int32Array(256);
const MOD_LO = new Int32Array(256);
let activeTables: Tables | undefined;

function activate(t: Tables): void {
  if (activeTables === t) return;
  OUT_HI.set(t.outHi);
  OUT_LO.set(t.outLo);
  MOD_HI.set(t.modHi);
  MOD_LO.set(t.modLo);
  activeTables = t;
}

function appendByte(h: bigint, b: number, pol: bigint): bigint {
  return mod((h << 8n) | BigInt(b), pol);
}

function setSplit(hi: Int32Array, lo: Int32Array, b: number, v: bigint): void {
  hi[b] = Number(v >> 32n) | 0;
  lo[b] = Number(v & 0xffffffffn) | 0;
}

/** out[b]: hash of a window holding b then 63 zeros; mod[b]: reduction of the 8 overflow bits. */
function tablesFor(pol: bigint): Tables {
  const cached = tableCache.get(pol);
  if (cached) return cached;
  const k = deg(pol);
  // restic/chunker allows degree ≤ 53; the split digest also needs polShift ≥ 32.
  if (k < 40 || k > 53) throw new RangeError(`chunker polynomial must have degree 40–53, got ${k}`);
  const t: Tables = {
    outHi: new Int32Array(256),
    outLo: new Int32Array(256),
    modHi: new Int32Array(256),
    modLo: new Int32Array(256),
    hiShift: k - 8 - 32,
  };
  // Both tables are linear over GF(2) in b (polynomial reduction is), so only the eight
  // single-bit entries need BigInt arithmetic; the rest are XORs of those (≈30× faster).
  for (let bit = 0; bit < 8; bit++) {
    const b = 1 << bit;
    let h = appendByte(0n, b, pol);
    for (let i = 0; i < WINDOW_SIZE - 1; i++) h = appendByte(h, 0, pol);
    setSplit(t.outHi, t.outLo, b, h);
    const top = BigInt(b) << BigInt(k);
    setSplit(t.modHi, t.modLo, b, mod(top, pol) | top);
  }
  for (let b = 3; b < 256; b++) {
    const low = b & -b;
    if (low === b) continue;
    const rest = b ^ low;
    t.outHi[b] = t.outHi[rest]! ^ t.outHi[low]!;
    t.outLo[b] = t.outLo[rest]! ^ t.outLo[low]!;
    t.modHi[b] = t.modHi[rest]! ^ t.modHi[low]!;
    t.modLo[b] = t.modLo[rest]! ^ t.modLo[low]!;
  }
  tableCache.set(pol, t);
  return t;
}

function join(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** restic's `out[b]` and `mod[b]` table entries for a polynomial (for tests and tools). */
export function tableValues(pol: bigint, b: number): { out: bigint; mod: bigint } {
  const t = tablesFor(pol);
  return { out: join(t.outHi[b]!, t.outLo[b]!), mod: join(t.modHi[b]!, t.modLo[b]!) };
}

/**
 * Incremental chunker over one stream: feed consecutive pieces of the stream to
 * {@link next}; a chunk may span any number of pieces. Call {@link flush} at the end of
 * the stream and {@link reset} to start another one.
 */
export class Chunker {
  readonly pol: bigint;
  readonly minSize: number;
  readonly maxSize: number;
  readonly averageBits: number;
  /** Fingerprint of the last boundary reported by next() or flush(). */
  cut = 0n;

  private readonly mask: number;
  private readonly t: Tables;
  /** Ring of the last 64 hashed bytes; window[wpos] is the oldest. */
  private readonly window = new Uint8Array(WINDOW_SIZE);
  private wpos = 0;
  private hi = 0;
  private lo = 0;
  /** Bytes of the current chunk consumed so far. */
  private count = 0;
  /** Bytes still to take unhashed at the start of the current chunk. */
  private pre = 0;

  constructor(pol: bigint, opts: ChunkerOptions = {}) {
    const { minSize = MIN_SIZE, maxSize = MAX_SIZE, averageBits = AVERAGE_BITS } = opts;
    if (!Number.isSafeInteger(minSize) || minSize < WINDOW_SIZE) throw new RangeError(`minSize must be an integer ≥ ${WINDOW_SIZE}`);
    if (!Number.isSafeInteger(maxSize) || maxSize < minSize) throw new RangeError('maxSize must be an integer ≥ minSize');
    if (!Number.isInteger(averageBits) || averageBits < 0 || averageBits > 32)
      throw new RangeError('averageBits must be an integer in 0–32');
    this.pol = pol;
    this.minSize = minSize;
    this.maxSize = maxSize;
    this.averageBits = averageBits;
    this.mask = averageBits === 32 ? -1 : (1 << averageBits) - 1;
    this.t = tablesFor(pol);
    this.reset();
  }

  /** Forgets the current chunk: zero window, then slide(1), as restic does after every cut. */
  reset(): void {
    this.window.fill(0);
    this.wpos = 0;
    this.hi = 0;
    this.lo = 0;
    this.count = 0;
    this.pre = this.minSize - WINDOW_SIZE;
    activate(this.t);
    this.slideRing(ONE, 0, 1, 0);
  }

  /** The current fingerprint (what a chunk ending here without a boundary gets as its cut). */
  get digest(): bigint {
    return join(this.hi, this.lo);
  }

  /** Bytes of the unfinished chunk consumed so far. */
  get pending(): number {
    return this.count;
  }

  /**
   * Consumes buf[start, end) as the next bytes of the stream. Returns the index just after
   * the byte that ends a chunk (then `cut` holds its fingerprint and the chunker is reset
   * for the next chunk: call again from that index), or −1 when no chunk ends in the range.
   */
  next(buf: Uint8Array, start = 0, end: number = buf.length): number {
    let i = start;
    if (this.pre > 0) {
      const n = end - i;
      if (this.pre > n) {
        this.pre -= n;
        this.count += n;
        return -1;
      }
      i += this.pre;
      this.count += this.pre;
      this.pre = 0;
    }
    // Chunk length including buf[j] is base + j + 1; the chunk reaches maxSize at buf[maxAt].
    const base = this.count - i;
    const maxAt = this.maxSize - base - 1;
    const stop = Math.min(end, maxAt + 1);
    let at: number;
    if (stop - i < SMALL) {
      activate(this.t);
      at = this.slideRing(buf, i, stop, base);
    } else {
      at = this.scanWasm(buf, i, stop, base, maxAt);
    }
    if (at < 0) {
      this.count = base + end;
      return -1;
    }
    this.cut = join(this.hi, this.lo);
    this.reset();
    return at + 1;
  }

  /**
   * Ends the stream: returns the length of the final, unfinished chunk (0 if none) and
   * sets `cut` to the current digest, as restic does for the last chunk; then resets.
   */
  flush(): number {
    const n = this.count;
    if (n > 0) this.cut = join(this.hi, this.lo);
    this.reset();
    return n;
  }

  /** Whether the chunk reaching length n (after hashing its last byte) ends there. */
  private isCut(lo: number, n: number): boolean {
    return n >= this.minSize && ((lo & this.mask) === 0 || n >= this.maxSize);
  }

  /** Slides buf[from, to) through the ring window; returns the index of a cut byte or −1. */
  private slideRing(buf: Uint8Array, from: number, to: number, base: number): number {
    const hiShift = this.t.hiShift;
    const win = this.window;
    let { hi, lo, wpos } = this;
    let at = -1;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      const o = win[wpos]!;
      win[wpos] = b;
      wpos = (wpos + 1) & 63;
      hi ^= OUT_HI[o]!;
      lo ^= OUT_LO[o]!;
      const idx = hi >>> hiShift;
      hi = ((hi << 8) | (lo >>> 24)) ^ MOD_HI[idx]!;
      lo = ((lo << 8) | b) ^ MOD_LO[idx]!;
      if (this.isCut(lo, base + i + 1)) {
        at = i;
        break;
      }
    }
    this.hi = hi;
    this.lo = lo;
    this.wpos = wpos;
    return at;
  }

  /**
   * Hashes buf[from, to) (to ≤ maxAt + 1) in WebAssembly, PIECE bytes at a time copied in
   * behind the window. Returns the index of the cut byte (hi/lo then hold its digest) or
   * −1 (hi/lo and the ring then hold the state after buf[to − 1]).
   */
  private scanWasm(buf: Uint8Array, from: number, to: number, base: number, maxAt: number): number {
    const sc = activateWasm(this.t, this.mask);
    // The window, oldest byte first, goes just before DATA.
    const win = this.window;
    mem.set(win.subarray(this.wpos), DATA - WINDOW_SIZE);
    mem.set(win.subarray(0, this.wpos), DATA - this.wpos);
    // buf[j] may end a chunk from j = minSize − base − 1 on.
    const checkFrom = this.minSize - base - 1;
    for (let p = from; p < to;) {
      // A first piece with an unchecked head (≤ 63 bytes after a reset) grows by it, so
      // that the checked part can still be whole blocks.
      const n = Math.min(PIECE + Math.min(HEAD, Math.max(0, checkFrom - p)), to - p);
      mem.set(buf.subarray(p, p + n), DATA);
      const a = DATA + Math.max(0, checkFrom - p);
      const hit = a < DATA + n ? findCut(sc, a, DATA + n, this.mask) : -1;
      if (hit >= 0) return this.digestAt(sc, hit, p + hit - DATA);
      if (p + n === maxAt + 1) return this.digestAt(sc, DATA + n - 1, maxAt);
      // The last 64 bytes become the window of the next piece.
      mem.copyWithin(DATA - WINDOW_SIZE, DATA + n - WINDOW_SIZE, DATA + n);
      p += n;
    }
    win.set(mem.subarray(DATA - WINDOW_SIZE, DATA));
    this.wpos = 0;
    return this.digestAt(sc, DATA - 1, -1);
  }

  /** Sets hi/lo to the digest after WASM memory byte `pos`; returns `ret`. */
  private digestAt(sc: Scanner, pos: number, ret: number): number {
    sc.warm(pos + 1);
    this.lo = words[DIG >> 2]!;
    this.hi = words[(DIG >> 2) + 1]!;
    return ret;
  }
}

/** Ranges shorter than this take the JS ring loop (no copy, no 64-byte warm-ups). */
const SMALL = 1024;
/** Below LANES × this many bytes a range is scanned in one lane. */
const MIN_LANE = 256;

let wasmTables: Tables | undefined;

/** The scan functions, with the polynomial's tables copied into WASM memory if another ran last. */
function activateWasm(t: Tables, mask: number): Scanner {
  const sc = scanner(t.hiShift + 32, mask); // first: it creates the memory
  if (wasmTables !== t) {
    for (let b = 0; b < 256; b++) {
      words[(OUT >> 2) + 2 * b] = t.outLo[b]!;
      words[(OUT >> 2) + 2 * b + 1] = t.outHi[b]!;
      words[(MOD >> 2) + 2 * b] = t.modLo[b]!;
      words[(MOD >> 2) + 2 * b + 1] = t.modHi[b]!;
    }
    wasmTables = t;
  }
  return sc;
}

/**
 * The first position in WASM memory [a, b) after which the digest matches the mask, or −1.
 * Whole blocks of LANES × STRIDE bytes take the block scans, the rest the general ones.
 */
function findCut(sc: Scanner, a: number, b: number, mask: number): number {
  for (; b - a >= LANES * STRIDE; a += LANES * STRIDE) {
    const hit = lanesCut(sc, sc.block, a, STRIDE, STRIDE, mask);
    if (hit >= 0) return hit;
  }
  const lane = 2 * Math.floor((b - a) / (2 * LANES)); // even: see scanFunction
  if (lane >= MIN_LANE) {
    const hit = lanesCut(sc, sc.scan, a, lane, lane, mask);
    if (hit >= 0) return hit;
    a += LANES * lane;
  }
  if (a === b) return -1;
  const step = sc.scan1(a, 0, b - a);
  return step < 0 ? -1 : a + step;
}

/**
 * Scans LANES lanes of `count` bytes `stride` apart from a; returns the first hit or −1.
 * A hit in lane h > 0 is only a candidate: the unscanned rest of each lane before it is
 * searched first (again LANES lanes wide), and an earlier hit there wins.
 */
function lanesCut(sc: Scanner, scan: ScanFn, a: number, stride: number, count: number, mask: number): number {
  const step = scan(a, stride, count);
  if (step < 0) return -1;
  let h = 0;
  while ((words[(DIG >> 2) + 2 * h]! & mask) !== 0) h++;
  for (let l = 0; l < h; l++) {
    const lane = a + l * stride;
    const hit = lane + step + 1 < lane + count ? findCut(sc, lane + step + 1, lane + count, mask) : -1;
    if (hit >= 0) return hit;
  }
  return a + h * stride + step;
}

/** All chunks of an in-memory buffer (an empty buffer has none). */
export function chunkBuffer(buf: Uint8Array, pol: bigint, opts?: ChunkerOptions): ChunkBoundary[] {
  const c = new Chunker(pol, opts);
  const chunks: ChunkBoundary[] = [];
  let start = 0;
  for (let end = c.next(buf, 0); end >= 0; end = c.next(buf, start)) {
    chunks.push({ offset: start, length: end - start, cut: c.cut });
    start = end;
  }
  const length = c.flush();
  if (length > 0) chunks.push({ offset: start, length, cut: c.cut });
  return chunks;
}

/** Collects the bytes of a chunk that spans input pieces; reused from chunk to chunk. */
class ChunkAccumulator {
  private buf = new Uint8Array(0);
  private len = 0;

  constructor(private readonly limit: number) {}

  push(part: Uint8Array): void {
    if (part.length === 0) return;
    const need = this.len + part.length;
    if (need > this.buf.length) {
      let size = Math.max(64 * 1024, this.buf.length);
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.max(need, Math.min(size, this.limit)));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(part, this.len);
    this.len = need;
  }

  /** The collected bytes followed by `tail`, as a new buffer; empties the accumulator. */
  take(tail: Uint8Array): Uint8Array {
    if (this.len === 0) return tail.slice();
    this.push(tail);
    const data = this.buf.slice(0, this.len);
    this.len = 0;
    return data;
  }
}

/**
 * Chunks a stream, yielding each chunk as a buffer of its own. Holds at most one
 * unfinished chunk (< maxSize) plus the current input piece.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  pol: bigint,
  opts?: ChunkerOptions,
): AsyncGenerator<ChunkData, void, undefined> {
  const c = new Chunker(pol, opts);
  const acc = new ChunkAccumulator(c.maxSize);
  let offset = 0;
  for await (const piece of source) {
    let start = 0;
    for (let end = c.next(piece, 0); end >= 0; end = c.next(piece, start)) {
      const data = acc.take(piece.subarray(start, end));
      yield { data, offset, cut: c.cut };
      offset += data.length;
      start = end;
    }
    acc.push(piece.subarray(start));
  }
  if (c.flush() > 0) yield { data: acc.take(new Uint8Array(0)), offset, cut: c.cut };
}

/** Reads up to `length` bytes into buf at `offset`; returns 0 at the end of the stream. */
export type ReadSync = (buf: Uint8Array, offset: number, length: number) => number;

export interface ChunkReadOptions extends ChunkerOptions {
  /** Reused read buffer; must be larger than maxSize. Default: 2 × maxSize. */
  buffer?: Uint8Array;
}

/**
 * Chunks a synchronous reader through one reused buffer. Each yielded `data` is a view
 * into that buffer, valid only until the generator resumes: copy it to keep it.
 */
export function* chunkReadSync(read: ReadSync, pol: bigint, opts: ChunkReadOptions = {}): Generator<ChunkData, void, undefined> {
  const c = new Chunker(pol, opts);
  const buf = opts.buffer ?? new Uint8Array(2 * c.maxSize);
  if (buf.length <= c.maxSize) throw new RangeError('read buffer must be larger than maxSize');
  let bufOffset = 0; // stream offset of buf[0]
  let filled = 0;
  let start = 0; // start of the current chunk in buf
  for (;;) {
    if (filled === buf.length) {
      // The unfinished chunk (< maxSize) moves to the front to make room.
      buf.copyWithin(0, start, filled);
      bufOffset += start;
      filled -= start;
      start = 0;
    }
    const n = read(buf, filled, buf.length - filled);
    if (n <= 0) break;
    const from = filled;
    filled += n;
    for (let end = c.next(buf, from, filled); end >= 0; end = c.next(buf, start, filled)) {
      yield { data: buf.subarray(start, end), offset: bufOffset + start, cut: c.cut };
      start = end;
    }
  }
  if (c.flush() > 0) yield { data: buf.subarray(start, filled), offset: bufOffset + start, cut: c.cut };
}

/** Chunks an open file (or pipe) read sequentially with fs.readSync; see {@link chunkReadSync}. */
export function chunkFileSync(fd: number, pol: bigint, opts?: ChunkReadOptions): Generator<ChunkData, void, undefined> {
  return chunkReadSync((buf, offset, length) => readSync(fd, buf, offset, length, null), pol, opts);
}
