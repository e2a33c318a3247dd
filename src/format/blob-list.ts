/**
 * Compact lists of packed blobs and sets of blob IDs, for the backup pipeline.
 *
 * A pack of small, well-compressible files holds tens of thousands of blobs. As objects with
 * hex-string IDs each costs ~150 bytes on every thread that holds it (the worker's open pack,
 * the pack message, the index batch waiting to be written); here it costs 48 bytes in typed
 * arrays that move between threads without per-blob objects.
 */
import type { BlobType, PackedBlob } from './blob.js';

/** Per blob: packed type (bit 0 = tree), offset, stored length, plaintext length (0 = not compressed). */
const META = 4;
/** Blobs per full page: a long list grows page by page (no big reallocation, no copy when posted). */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE - 1;

/** Capacity of a new page; it doubles up to PAGE (small packs, e.g. of trees, stay small). */
const FIRST_CAPACITY = 64;

interface Page {
  ids: Uint8Array;
  meta: Uint32Array;
}

function newPage(capacity: number): Page {
  return { ids: new Uint8Array(capacity * 32), meta: new Uint32Array(capacity * META) };
}

function grownPage(p: Page): Page {
  const g = newPage(Math.min(PAGE, (p.meta.length / META) * 2));
  g.ids.set(p.ids);
  g.meta.set(p.meta);
  return g;
}

/**
 * Decode a 64-character hex ID into out[at, at + 32); false when it is not one. Buffer's
 * native hex decoder stops at the first pair that is not hex, so a short count means invalid.
 */
export function hexIdInto(id: string, out: Buffer, at = 0): boolean {
  return id.length === 64 && out.write(id, at, 32, 'hex') === 32;
}

/** hexIdInto() of a blob ID that must be valid: a TypeError otherwise. Returns `out`. */
export function blobIdInto(id: string, out: Buffer, at = 0): Buffer {
  if (!hexIdInto(id, out, at)) throw new TypeError(`invalid blob ID ${JSON.stringify(id)}`);
  return out;
}

/** The pages of a BlobList, as posted between threads (transferable, see blobListTransfer). */
export interface BlobListData {
  count: number;
  pages: Page[];
}

/** Read access to a pack's blobs without per-blob objects (BlobList, MasterIndex.packBlobs). */
export interface BlobsView {
  readonly length: number;
  type(i: number): BlobType;
  /** The raw 32-byte ID (a view). */
  idBytes(i: number): Uint8Array;
  offset(i: number): number;
  storedLength(i: number): number;
  uncompressedLength(i: number): number;
}

export class BlobList implements BlobsView, Iterable<PackedBlob> {
  private pages: Page[] = [];
  private n = 0;

  /** A list over pages received from another thread (not copied). */
  static fromData(d: BlobListData): BlobList {
    const l = new BlobList();
    l.pages = d.pages;
    l.n = d.count;
    return l;
  }

  /** A list of the given blobs (hex IDs). */
  static of(blobs: Iterable<PackedBlob>): BlobList {
    const l = new BlobList();
    for (const b of blobs) l.push(b.type, b.id, b.offset, b.length, b.uncompressedLength);
    return l;
  }

  get length(): number {
    return this.n;
  }

  /** Append a blob; `id` is hex or 32 raw bytes. */
  push(type: BlobType, id: string | Uint8Array, offset: number, length: number, uncompressedLength: number): void {
    const i = this.n;
    const k = i & PAGE_MASK;
    if (i >>> PAGE_BITS === this.pages.length) this.pages.push(newPage(FIRST_CAPACITY));
    else if (k * META === this.pages[i >>> PAGE_BITS]!.meta.length) this.pages[i >>> PAGE_BITS] = grownPage(this.pages[i >>> PAGE_BITS]!);
    const pg = this.pages[i >>> PAGE_BITS]!;
    if (typeof id === 'string') blobIdInto(id, Buffer.from(pg.ids.buffer, pg.ids.byteOffset + k * 32, 32));
    else pg.ids.set(id.subarray(0, 32), k * 32);
    const m = k * META;
    pg.meta[m] = type === 'tree' ? 1 : 0;
    pg.meta[m + 1] = offset;
    pg.meta[m + 2] = length;
    pg.meta[m + 3] = uncompressedLength;
    this.n++;
  }

  private meta(i: number, field: number): number {
    return this.pages[i >>> PAGE_BITS]!.meta[(i & PAGE_MASK) * META + field]!;
  }

  type(i: number): BlobType {
    return this.meta(i, 0) & 1 ? 'tree' : 'data';
  }

  /** The raw 32-byte ID (a view). */
  idBytes(i: number): Uint8Array {
    const k = (i & PAGE_MASK) * 32;
    return this.pages[i >>> PAGE_BITS]!.ids.subarray(k, k + 32);
  }

  id(i: number): string {
    const ids = this.pages[i >>> PAGE_BITS]!.ids;
    return Buffer.from(ids.buffer, ids.byteOffset + (i & PAGE_MASK) * 32, 32).toString('hex');
  }

  offset(i: number): number {
    return this.meta(i, 1);
  }

  storedLength(i: number): number {
    return this.meta(i, 2);
  }

  uncompressedLength(i: number): number {
    return this.meta(i, 3);
  }

  get(i: number): PackedBlob {
    return {
      type: this.type(i),
      id: this.id(i),
      offset: this.offset(i),
      length: this.storedLength(i),
      uncompressedLength: this.uncompressedLength(i),
    };
  }

  *[Symbol.iterator](): Iterator<PackedBlob> {
    for (let i = 0; i < this.n; i++) yield this.get(i);
  }

  /**
   * The pages, to post to another thread. With `transfer` (blobListTransfer) this list must
   * not be used afterwards: its pages move to the receiver.
   */
  data(): BlobListData {
    return { count: this.n, pages: this.pages };
  }
}

/** Buffers of a BlobListData, for postMessage's transfer list. */
export function blobListTransfer(d: BlobListData): ArrayBuffer[] {
  return d.pages.flatMap((p) => [p.ids.buffer as ArrayBuffer, p.meta.buffer as ArrayBuffer]);
}

const EMPTY = 0;
const DELETED = -1;

/** Slots per page of a BlobIdSet's slab. */
const SLOT_PAGE_BITS = 12;
const SLOT_PAGE = 1 << SLOT_PAGE_BITS;
const SLOT_MASK = SLOT_PAGE - 1;

interface SlotPage {
  ids: Uint8Array;
  types: Uint8Array;
}

/**
 * A set of (type, binary ID) with removal: IDs in 32-byte slots of a paged slab (freed
 * slots are reused, nothing is copied as it grows), found through an open-addressing table
 * keyed by the ID's leading bytes (SHA-256 output is uniform). ~40 bytes per member
 * instead of ~130 for a Set of hex strings.
 */
export class BlobIdSet {
  private pages: SlotPage[] = [];
  private free: number[] = [];
  private slots = 0;
  /** Slab slot + 1, 0 = empty, −1 = deleted. */
  private table = new Int32Array(512);
  private members = 0;
  /** Table cells not empty (members and deletion marks). */
  private usedCells = 0;

  get size(): number {
    return this.members;
  }

  has(type: BlobType, id: Uint8Array): boolean {
    return this.find(type, id) >= 0;
  }

  /** Add; false when already present. */
  add(type: BlobType, id: Uint8Array): boolean {
    if (this.find(type, id) >= 0) return false;
    if ((this.usedCells + 1) * 2 > this.table.length) this.rehash();
    const slot = this.free.length ? this.free.pop()! : this.newSlot();
    const pg = this.pages[slot >>> SLOT_PAGE_BITS]!;
    pg.ids.set(id.subarray(0, 32), (slot & SLOT_MASK) * 32);
    pg.types[slot & SLOT_MASK] = type === 'tree' ? 1 : 0;
    const mask = this.table.length - 1;
    let c = this.cellOf(type, id);
    while (this.table[c]! > 0) c = (c + 1) & mask;
    if (this.table[c] === EMPTY) this.usedCells++;
    this.table[c] = slot + 1;
    this.members++;
    return true;
  }

  delete(type: BlobType, id: Uint8Array): boolean {
    const c = this.find(type, id);
    if (c < 0) return false;
    this.free.push(this.table[c]! - 1);
    this.table[c] = DELETED;
    this.members--;
    return true;
  }

  /** Every member (its ID a view, valid during the call), in insertion order unless members were deleted. */
  forEach(fn: (type: BlobType, id: Uint8Array) => void): void {
    const freed = this.free.length ? new Set(this.free) : null;
    for (let s = 0; s < this.slots; s++) {
      if (freed?.has(s)) continue;
      const pg = this.pages[s >>> SLOT_PAGE_BITS]!;
      const base = (s & SLOT_MASK) * 32;
      fn(pg.types[s & SLOT_MASK] ? 'tree' : 'data', pg.ids.subarray(base, base + 32));
    }
  }

  private newSlot(): number {
    if (this.slots >>> SLOT_PAGE_BITS === this.pages.length)
      this.pages.push({ ids: new Uint8Array(SLOT_PAGE * 32), types: new Uint8Array(SLOT_PAGE) });
    return this.slots++;
  }

  private cellOf(type: BlobType, id: Uint8Array, at = 0): number {
    const h = (id[at]! | (id[at + 1]! << 8) | (id[at + 2]! << 16) | (id[at + 3]! << 24)) ^ (type === 'tree' ? 0x5bd1e995 : 0);
    return h & (this.table.length - 1);
  }

  /** Table cell of (type, id), or −1. */
  private find(type: BlobType, id: Uint8Array): number {
    const mask = this.table.length - 1;
    const t = type === 'tree' ? 1 : 0;
    for (let c = this.cellOf(type, id); ; c = (c + 1) & mask) {
      const v = this.table[c]!;
      if (v === EMPTY) return -1;
      if (v === DELETED) continue;
      const s = v - 1;
      const pg = this.pages[s >>> SLOT_PAGE_BITS]!;
      if (pg.types[s & SLOT_MASK] !== t) continue;
      const base = (s & SLOT_MASK) * 32;
      const ids = pg.ids;
      let k = 0;
      while (k < 32 && ids[base + k] === id[k]) k++;
      if (k === 32) return c;
    }
  }

  /** A table sized for the members (deletion marks dropped), at most 40 % full. */
  private rehash(): void {
    let size = 512;
    while (size * 2 < (this.members + 1) * 5) size *= 2;
    const old = this.table;
    this.table = new Int32Array(size);
    const mask = size - 1;
    for (const v of old) {
      if (v <= 0) continue;
      const s = v - 1;
      const pg = this.pages[s >>> SLOT_PAGE_BITS]!;
      let c = this.cellOf(pg.types[s & SLOT_MASK] ? 'tree' : 'data', pg.ids, (s & SLOT_MASK) * 32);
      while (this.table[c] !== EMPTY) c = (c + 1) & mask;
      this.table[c] = v;
    }
    this.usedCells = this.members;
  }
}
