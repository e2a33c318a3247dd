/**
 * Compact lists of packed blobs and sets of blob IDs, for the backup pipeline.
 *
 * A pack of small, well-compressible files holds tens of thousands of blobs. As objects with
 * hex-string IDs each costs ~150 bytes on every thread that holds it (the worker's open pack,
 * the pack message, the index batch waiting to be written); here it costs 48 bytes in typed
 * arrays that move between threads without per-blob objects.
 */
import type { BlobType, PackedBlob } from './pack.js';

/** Per blob: packed type (bit 0 = tree), offset, stored length, plaintext length (0 = not compressed). */
const META = 4;

/** The arrays of a BlobList, as posted between threads (transferable). */
export interface BlobListData {
  count: number;
  ids: Uint8Array;
  meta: Uint32Array;
}

export class BlobList implements Iterable<PackedBlob> {
  private ids: Uint8Array;
  private meta: Uint32Array;
  private n = 0;

  constructor(capacity = 64) {
    this.ids = new Uint8Array(capacity * 32);
    this.meta = new Uint32Array(capacity * META);
  }

  /** A list over arrays received from another thread (not copied). */
  static fromData(d: BlobListData): BlobList {
    const l = new BlobList(0);
    l.ids = d.ids;
    l.meta = d.meta;
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
    if (this.n * META >= this.meta.length) this.grow();
    const i = this.n++;
    if (typeof id === 'string') {
      if (Buffer.from(this.ids.buffer, this.ids.byteOffset + i * 32, 32).write(id, 'hex') !== 32) throw new TypeError(`invalid blob ID ${JSON.stringify(id)}`);
    } else this.ids.set(id, i * 32);
    const m = i * META;
    this.meta[m] = type === 'tree' ? 1 : 0;
    this.meta[m + 1] = offset;
    this.meta[m + 2] = length;
    this.meta[m + 3] = uncompressedLength;
  }

  private grow(): void {
    const cap = Math.max(64, this.n * 2);
    const ids = new Uint8Array(cap * 32);
    ids.set(this.ids.subarray(0, this.n * 32));
    const meta = new Uint32Array(cap * META);
    meta.set(this.meta.subarray(0, this.n * META));
    this.ids = ids;
    this.meta = meta;
  }

  type(i: number): BlobType {
    return this.meta[i * META]! & 1 ? 'tree' : 'data';
  }

  /** The raw 32-byte ID (a view, valid while the list is not appended to). */
  idBytes(i: number): Uint8Array {
    return this.ids.subarray(i * 32, i * 32 + 32);
  }

  id(i: number): string {
    return Buffer.from(this.ids.buffer, this.ids.byteOffset + i * 32, 32).toString('hex');
  }

  offset(i: number): number {
    return this.meta[i * META + 1]!;
  }

  storedLength(i: number): number {
    return this.meta[i * META + 2]!;
  }

  uncompressedLength(i: number): number {
    return this.meta[i * META + 3]!;
  }

  get(i: number): PackedBlob {
    return { type: this.type(i), id: this.id(i), offset: this.offset(i), length: this.storedLength(i), uncompressedLength: this.uncompressedLength(i) };
  }

  *[Symbol.iterator](): Iterator<PackedBlob> {
    for (let i = 0; i < this.n; i++) yield this.get(i);
  }

  /** Trimmed copies of the arrays, to post (and transfer) to another thread. */
  data(): BlobListData {
    return { count: this.n, ids: this.ids.slice(0, this.n * 32), meta: this.meta.slice(0, this.n * META) };
  }
}

/** Buffers of a BlobListData, for postMessage's transfer list. */
export function blobListTransfer(d: BlobListData): ArrayBuffer[] {
  return [d.ids.buffer as ArrayBuffer, d.meta.buffer as ArrayBuffer];
}

const EMPTY = 0;
const DELETED = -1;

/**
 * A set of (type, binary ID) with removal: IDs in a slab of 32-byte slots (freed slots are
 * reused), found through an open-addressing table keyed by the ID's leading bytes
 * (SHA-256 output is uniform). ~45 bytes per member instead of ~130 for a Set of hex strings.
 */
export class BlobIdSet {
  private slab = new Uint8Array(256 * 32);
  private types = new Uint8Array(256);
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
    this.slab.set(id.subarray(0, 32), slot * 32);
    this.types[slot] = type === 'tree' ? 1 : 0;
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

  private newSlot(): number {
    if (this.slots === this.types.length) {
      const slab = new Uint8Array(this.slab.length * 2);
      slab.set(this.slab);
      this.slab = slab;
      const types = new Uint8Array(this.types.length * 2);
      types.set(this.types);
      this.types = types;
    }
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
      if (this.types[s] !== t) continue;
      const base = s * 32;
      let k = 0;
      while (k < 32 && this.slab[base + k] === id[k]) k++;
      if (k === 32) return c;
    }
  }

  /** A table sized for the members (deletion marks dropped). */
  private rehash(): void {
    let size = 512;
    while (size < (this.members + 1) * 4) size *= 2;
    const old = this.table;
    this.table = new Int32Array(size);
    const mask = size - 1;
    for (const v of old) {
      if (v <= 0) continue;
      const s = v - 1;
      let c = this.cellOf(this.types[s] ? 'tree' : 'data', this.slab, s * 32);
      while (this.table[c] !== EMPTY) c = (c + 1) & mask;
      this.table[c] = v;
    }
    this.usedCells = this.members;
  }
}
