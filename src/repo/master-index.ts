/**
 * The in-memory union of all index files: blob → every pack location that holds it.
 * Duplicates (same blob in several packs) are legal; every location is kept so a
 * reader can fall back to another copy.
 */
import type { BlobType, PackedBlob } from './pack.js';
import type { IndexPack } from './index-file.js';

export interface BlobLocation {
  packId: string;
  type: BlobType;
  offset: number;
  length: number;
  uncompressedLength: number;
}

const key = (type: BlobType, id: string) => (type === 'data' ? 'd' : 't') + id;

export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation[]>();
  private readonly packBlobs = new Map<string, PackedBlob[]>();

  get blobCount(): number {
    return this.blobs.size;
  }

  get packCount(): number {
    return this.packBlobs.size;
  }

  has(type: BlobType, id: string): boolean {
    return this.blobs.has(key(type, id));
  }

  lookup(type: BlobType, id: string): BlobLocation[] {
    return this.blobs.get(key(type, id)) ?? [];
  }

  /** Add a pack's blobs; entries already known for that pack and offset are merged. */
  addPack(packId: string, blobs: PackedBlob[]): void {
    const known = this.packBlobs.get(packId);
    if (known) {
      const offsets = new Set(known.map((b) => b.offset));
      for (const b of blobs) if (!offsets.has(b.offset)) this.addBlob(packId, b, known);
      return;
    }
    const list: PackedBlob[] = [];
    this.packBlobs.set(packId, list);
    for (const b of blobs) this.addBlob(packId, b, list);
  }

  private addBlob(packId: string, b: PackedBlob, list: PackedBlob[]): void {
    list.push(b);
    const loc: BlobLocation = { packId, type: b.type, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength };
    const k = key(b.type, b.id);
    const locs = this.blobs.get(k);
    if (locs) locs.push(loc);
    else this.blobs.set(k, [loc]);
  }

  addIndex(packs: IndexPack[]): void {
    for (const p of packs) this.addPack(p.id, p.blobs);
  }

  /** Blobs of a pack, in the order they were indexed. */
  packContents(packId: string): PackedBlob[] | undefined {
    return this.packBlobs.get(packId);
  }

  packIds(): IterableIterator<string> {
    return this.packBlobs.keys();
  }

  *allPacks(): IterableIterator<IndexPack> {
    for (const [id, blobs] of this.packBlobs) yield { id, blobs };
  }

  /** Plaintext size of a blob (for restore planning). */
  static plaintextSize(loc: BlobLocation): number {
    return loc.uncompressedLength || loc.length - 32;
  }
}
