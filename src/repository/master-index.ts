/**
 * The in-memory union of all index files: blob → every pack location that holds it.
 * Duplicates (same blob in several packs) are legal; every location is kept so a
 * reader can fall back to another copy.
 *
 * Memory layout (≈ 57 bytes per blob at 1M blobs instead of ≈ 400 with a Map of objects):
 * entries live in pages of typed arrays — the 32-byte ID, a packRef word (pack number,
 * bit 31 = tree), offset, stored length and plaintext length (all uint32, as in the
 * format) — found through an open-addressing hash table of entry numbers keyed by the
 * ID's first bytes (SHA-256 output is uniform, so no further hashing is needed).
 * Duplicate locations of a blob are rare and live in a small side map.
 */
import type { BlobType, PackedBlob } from '../format/pack.js';
import type { IndexPack } from '../format/index-file.js';
import { BlobList, type BlobsView, blobIdInto, hexIdInto } from '../format/blob-list.js';

export interface BlobLocation {
  packId: string;
  type: BlobType;
  offset: number;
  length: number;
  uncompressedLength: number;
}

export interface IndexCounts {
  /** Distinct (type, ID) pairs. */
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Locations, counting every duplicate copy. */
  entries: number;
  packs: number;
}

const PAGE_BITS = 15;
const PAGE = 1 << PAGE_BITS; // entries per page
const PAGE_MASK = PAGE - 1;
const TREE_BIT = 0x8000_0000;
const PACK_MASK = 0x7fff_ffff;
/** Hash table grows past this load factor. */
const MAX_LOAD = 0.75;

class EntryPage {
  readonly ids = new Uint8Array(PAGE * 32);
  readonly packRef = new Uint32Array(PAGE);
  readonly offset = new Uint32Array(PAGE);
  readonly length = new Uint32Array(PAGE);
  readonly uncompressed = new Uint32Array(PAGE);
}

interface PackInfo {
  id: string;
  /** Entries added for this pack (usually one contiguous run). */
  runs: Array<[start: number, count: number]>;
}

/** Scratch for hex → bytes, so lookups by hex string allocate nothing. */
const scratch = Buffer.alloc(32);

/** MasterIndex.packBlobs(): entries of one pack, read from the index's pages. */
class IndexedPackBlobs implements BlobsView {
  constructor(
    private readonly pages: EntryPage[],
    private readonly entries: Int32Array,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  private pg(i: number): EntryPage {
    return this.pages[this.entries[i]! >>> PAGE_BITS]!;
  }

  private j(i: number): number {
    return this.entries[i]! & PAGE_MASK;
  }

  type(i: number): BlobType {
    return this.pg(i).packRef[this.j(i)]! & TREE_BIT ? 'tree' : 'data';
  }

  idBytes(i: number): Uint8Array {
    const j = this.j(i);
    return this.pg(i).ids.subarray(j * 32, j * 32 + 32);
  }

  offset(i: number): number {
    return this.pg(i).offset[this.j(i)]!;
  }

  storedLength(i: number): number {
    return this.pg(i).length[this.j(i)]!;
  }

  uncompressedLength(i: number): number {
    return this.pg(i).uncompressed[this.j(i)]!;
  }
}

export class MasterIndex {
  private pages: EntryPage[] = [];
  private entryCount = 0;
  /** Hash slots: entry number + 1 of a blob's first location, 0 = empty. */
  private table = new Int32Array(1 << 12);
  private distinct = 0;
  private treeCount = 0;
  /** First entry → further locations of the same blob. */
  private readonly duplicates = new Map<number, number[]>();
  private readonly packs: PackInfo[] = [];
  private readonly packNumbers = new Map<string, number>();

  /** Forget every entry (an index reloaded from scratch). */
  clear(): void {
    this.pages = [];
    this.entryCount = 0;
    this.table = new Int32Array(1 << 12);
    this.distinct = 0;
    this.treeCount = 0;
    this.duplicates.clear();
    this.packs.length = 0;
    this.packNumbers.clear();
  }

  get blobCount(): number {
    return this.distinct;
  }

  get packCount(): number {
    return this.packs.length;
  }

  counts(): IndexCounts {
    return {
      blobs: this.distinct,
      dataBlobs: this.distinct - this.treeCount,
      treeBlobs: this.treeCount,
      entries: this.entryCount,
      packs: this.packs.length,
    };
  }

  /** Bytes held by the index's arrays (for the memory bench). */
  get arrayBytes(): number {
    const perPage = PAGE * (32 + 4 * 4);
    return this.pages.length * perPage + this.table.byteLength;
  }

  has(type: BlobType, id: string): boolean {
    return hexIdInto(id, scratch) && this.find(type, scratch) >= 0;
  }

  /** has() for a binary ID (32 bytes), as the backup pipeline produces them. */
  hasId(type: BlobType, id: Uint8Array): boolean {
    return this.find(type, id) >= 0;
  }

  lookup(type: BlobType, id: string): BlobLocation[] {
    if (!hexIdInto(id, scratch)) return [];
    const first = this.find(type, scratch);
    if (first < 0) return [];
    const out = [this.location(first)];
    const more = this.duplicates.get(first);
    if (more) for (const e of more) out.push(this.location(e));
    return out;
  }

  /** Add a pack's blobs; entries already known for that pack and offset are merged. */
  addPack(packId: string, blobs: PackedBlob[] | BlobList): void {
    let pn = this.packNumbers.get(packId);
    let known: Set<number> | null = null;
    if (pn === undefined) {
      pn = this.packs.length;
      this.packs.push({ id: packId, runs: [] });
      this.packNumbers.set(packId, pn);
    } else {
      known = new Set();
      for (const e of this.packEntries(pn)) known.add(this.page(e).offset[e & PAGE_MASK]!);
    }
    const pack = this.packs[pn]!;
    let runStart = -1;
    let runCount = 0;
    const add = (type: BlobType, id: Uint8Array, offset: number, length: number, uncompressedLength: number) => {
      if (known?.has(offset)) return;
      known?.add(offset);
      const e = this.append(pn, type, id, offset, length, uncompressedLength);
      if (runStart < 0) runStart = e;
      runCount++;
    };
    if (blobs instanceof BlobList) {
      // Straight from the backup pipeline's binary IDs: no hex round trip.
      for (let i = 0; i < blobs.length; i++)
        add(blobs.type(i), blobs.idBytes(i), blobs.offset(i), blobs.storedLength(i), blobs.uncompressedLength(i));
    } else {
      for (const b of blobs) {
        add(b.type, blobIdInto(b.id, scratch), b.offset, b.length, b.uncompressedLength);
      }
    }
    if (runCount) pack.runs.push([runStart, runCount]);
  }

  addIndex(packs: IndexPack[]): void {
    for (const p of packs) this.addPack(p.id, p.blobs);
  }

  /** Blobs of a pack, in the order they were indexed. */
  packContents(packId: string): PackedBlob[] | undefined {
    const pn = this.packNumbers.get(packId);
    if (pn === undefined) return undefined;
    const out: PackedBlob[] = [];
    for (const e of this.packEntries(pn)) out.push(this.packedBlob(e));
    return out;
  }

  /**
   * A pack's blobs read straight from the index's arrays (no objects), e.g. to write the
   * pack's index file without keeping its blob list elsewhere. Valid until clear().
   */
  packBlobs(packId: string): BlobsView | undefined {
    const pn = this.packNumbers.get(packId);
    if (pn === undefined) return undefined;
    const runs = this.packs[pn]!.runs;
    const entries = new Int32Array(runs.reduce((n, [, count]) => n + count, 0));
    let k = 0;
    for (const e of this.packEntries(pn)) entries[k++] = e;
    return new IndexedPackBlobs(this.pages, entries);
  }

  packIds(): IterableIterator<string> {
    return this.packNumbers.keys();
  }

  hasPack(packId: string): boolean {
    return this.packNumbers.has(packId);
  }

  *allPacks(): IterableIterator<IndexPack> {
    for (const p of this.packs) yield { id: p.id, blobs: this.packContents(p.id)! };
  }

  /** Plaintext size of a blob (for restore planning). */
  static plaintextSize(loc: BlobLocation): number {
    return loc.uncompressedLength || loc.length - 32;
  }

  // ---- internals ----

  private page(e: number): EntryPage {
    return this.pages[e >>> PAGE_BITS]!;
  }

  private *packEntries(pn: number): Generator<number> {
    for (const [start, count] of this.packs[pn]!.runs) for (let e = start; e < start + count; e++) yield e;
  }

  private slotOf(type: BlobType, id: Uint8Array, at = 0): number {
    // The ID is a SHA-256 digest: its leading bytes are already uniformly distributed.
    const h = (id[at]! | (id[at + 1]! << 8) | (id[at + 2]! << 16) | (id[at + 3]! << 24)) ^ (type === 'tree' ? 0x5bd1e995 : 0);
    return h & (this.table.length - 1);
  }

  private sameKey(e: number, type: BlobType, id: Uint8Array): boolean {
    const pg = this.page(e);
    const i = e & PAGE_MASK;
    if ((pg.packRef[i]! & TREE_BIT ? 'tree' : 'data') !== type) return false;
    const base = i * 32;
    const ids = pg.ids;
    for (let k = 0; k < 32; k++) if (ids[base + k] !== id[k]) return false;
    return true;
  }

  /** First entry holding (type, id), or −1. */
  private find(type: BlobType, id: Uint8Array): number {
    const mask = this.table.length - 1;
    for (let s = this.slotOf(type, id); ; s = (s + 1) & mask) {
      const v = this.table[s]!;
      if (v === 0) return -1;
      if (this.sameKey(v - 1, type, id)) return v - 1;
    }
  }

  private append(pn: number, type: BlobType, id: Uint8Array, offset: number, length: number, uncompressedLength: number): number {
    const e = this.entryCount++;
    if (e >>> PAGE_BITS >= this.pages.length) this.pages.push(new EntryPage());
    const pg = this.page(e);
    const i = e & PAGE_MASK;
    pg.ids.set(id, i * 32);
    pg.packRef[i] = pn | (type === 'tree' ? TREE_BIT : 0);
    pg.offset[i] = offset;
    pg.length[i] = length;
    pg.uncompressed[i] = uncompressedLength;
    this.insert(e, type, id);
    return e;
  }

  private insert(e: number, type: BlobType, id: Uint8Array): void {
    const mask = this.table.length - 1;
    let s = this.slotOf(type, id);
    for (; this.table[s] !== 0; s = (s + 1) & mask) {
      const first = this.table[s]! - 1;
      if (this.sameKey(first, type, id)) {
        const more = this.duplicates.get(first);
        if (more) more.push(e);
        else this.duplicates.set(first, [e]);
        return;
      }
    }
    this.table[s] = e + 1;
    this.distinct++;
    if (type === 'tree') this.treeCount++;
    if (this.distinct > this.table.length * MAX_LOAD) this.grow();
  }

  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2);
    const mask = this.table.length - 1;
    for (const v of old) {
      if (v === 0) continue;
      const e = v - 1;
      const pg = this.page(e);
      const i = e & PAGE_MASK;
      const type: BlobType = pg.packRef[i]! & TREE_BIT ? 'tree' : 'data';
      let s = this.slotOf(type, pg.ids, i * 32);
      while (this.table[s] !== 0) s = (s + 1) & mask;
      this.table[s] = v;
    }
  }

  private packedBlob(e: number): PackedBlob {
    const pg = this.page(e);
    const i = e & PAGE_MASK;
    const ref = pg.packRef[i]!;
    return {
      type: ref & TREE_BIT ? 'tree' : 'data',
      id: Buffer.from(pg.ids.buffer, pg.ids.byteOffset + i * 32, 32).toString('hex'),
      offset: pg.offset[i]!,
      length: pg.length[i]!,
      uncompressedLength: pg.uncompressed[i]!,
    };
  }

  private location(e: number): BlobLocation {
    const pg = this.page(e);
    const i = e & PAGE_MASK;
    const ref = pg.packRef[i]!;
    return {
      packId: this.packs[ref & PACK_MASK]!.id,
      type: ref & TREE_BIT ? 'tree' : 'data',
      offset: pg.offset[i]!,
      length: pg.length[i]!,
      uncompressedLength: pg.uncompressed[i]!,
    };
  }
}
