import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterIndex } from '../../src/repository/master-index.js';
import type { PackedBlob } from '../../src/format/pack.js';

const id = (label: string | number) => createHash('sha256').update(String(label)).digest('hex');

function blob(label: string | number, offset: number, type: 'data' | 'tree' = 'data', uncompressedLength = 0): PackedBlob {
  return { type, id: id(label), offset, length: 100 + (offset % 7), uncompressedLength };
}

describe('MasterIndex (compact)', () => {
  it('finds blobs with their location and misses unknown IDs', () => {
    const idx = new MasterIndex();
    idx.addPack(id('p1'), [blob('a', 0), blob('b', 100, 'tree', 4000)]);
    expect(idx.has('data', id('a'))).toBe(true);
    expect(idx.has('tree', id('b'))).toBe(true);
    // same ID, other type: a different blob
    expect(idx.has('tree', id('a'))).toBe(false);
    expect(idx.has('data', id('b'))).toBe(false);
    expect(idx.has('data', id('missing'))).toBe(false);
    expect(idx.lookup('data', id('missing'))).toEqual([]);
    expect(idx.has('data', 'not-an-id')).toBe(false);
    expect(idx.lookup('data', '')).toEqual([]);
    expect(idx.lookup('tree', id('b'))).toEqual([{ packId: id('p1'), type: 'tree', offset: 100, length: 102, uncompressedLength: 4000 }]);
    expect(idx.lookup('data', id('a').toUpperCase())[0]?.packId).toBe(id('p1'));
    expect(idx.counts()).toEqual({ blobs: 2, dataBlobs: 1, treeBlobs: 1, entries: 2, packs: 1 });
  });

  it('keeps every copy of a duplicate blob, first indexed first', () => {
    const idx = new MasterIndex();
    idx.addPack(id('p1'), [blob('dup', 0), blob('x', 200)]);
    idx.addPack(id('p2'), [blob('y', 0), { ...blob('dup', 300), offset: 300 }]);
    idx.addPack(id('p3'), [blob('dup', 0)]);
    const locs = idx.lookup('data', id('dup'));
    expect(locs.map((l) => [l.packId, l.offset])).toEqual([
      [id('p1'), 0],
      [id('p2'), 300],
      [id('p3'), 0],
    ]);
    expect(idx.blobCount).toBe(3); // dup, x, y
    expect(idx.counts().entries).toBe(5);
    expect(idx.packContents(id('p2'))!.map((b) => b.id)).toEqual([id('y'), id('dup')]);
  });

  it('merges a pack added twice by offset and keeps indexed order', () => {
    const idx = new MasterIndex();
    idx.addPack(id('p'), [blob('a', 0), blob('b', 100)]);
    idx.addPack(id('q'), [blob('other', 0)]);
    idx.addPack(id('p'), [blob('a', 0), blob('c', 200)]);
    expect(idx.packCount).toBe(2);
    expect(idx.packContents(id('p'))!.map((b) => [b.id, b.offset])).toEqual([
      [id('a'), 0],
      [id('b'), 100],
      [id('c'), 200],
    ]);
    expect(idx.lookup('data', id('a'))).toHaveLength(1);
    expect(idx.packContents(id('nope'))).toBeUndefined();
    expect([...idx.packIds()]).toEqual([id('p'), id('q')]);
    expect([...idx.allPacks()].map((p) => [p.id, p.blobs.length])).toEqual([
      [id('p'), 3],
      [id('q'), 1],
    ]);
  });

  it('holds many packs and blobs across pages and table growth', () => {
    const idx = new MasterIndex();
    const PACKS = 700;
    const PER = 100; // 70,000 blobs: several pages, several rehashes
    for (let p = 0; p < PACKS; p++) {
      const blobs: PackedBlob[] = [];
      for (let k = 0; k < PER; k++) blobs.push(blob(`${p}:${k}`, k * 1000, k % 10 === 0 ? 'tree' : 'data', k % 3 ? 0 : 5000 + k));
      idx.addPack(id(`pack${p}`), blobs);
    }
    expect(idx.counts()).toEqual({ blobs: PACKS * PER, dataBlobs: PACKS * 90, treeBlobs: PACKS * 10, entries: PACKS * PER, packs: PACKS });
    for (let p = 0; p < PACKS; p += 37) {
      for (let k = 0; k < PER; k += 13) {
        const type = k % 10 === 0 ? 'tree' : 'data';
        const [loc, ...rest] = idx.lookup(type, id(`${p}:${k}`));
        expect(rest).toEqual([]);
        expect(loc).toEqual({
          packId: id(`pack${p}`),
          type,
          offset: k * 1000,
          length: 100 + ((k * 1000) % 7),
          uncompressedLength: k % 3 ? 0 : 5000 + k,
        });
        expect(idx.has(type === 'tree' ? 'data' : 'tree', id(`${p}:${k}`))).toBe(false);
      }
    }
    for (let m = 0; m < 2000; m++) expect(idx.has('data', id(`missing${m}`))).toBe(false);
    const contents = idx.packContents(id('pack699'))!;
    expect(contents).toHaveLength(PER);
    expect(contents[5]).toEqual(blob('699:5', 5000));
  });

  it('stays within 64 bytes per blob at 1,000,000 blobs', () => {
    const idx = new MasterIndex();
    const N = 1_000_000;
    const PER = 1000;
    const raw = randomBytes(N * 32);
    for (let p = 0; p < N / PER; p++) {
      const blobs: PackedBlob[] = [];
      for (let k = 0; k < PER; k++) {
        const n = p * PER + k;
        blobs.push({ type: 'data', id: raw.toString('hex', n * 32, n * 32 + 32), offset: k * 4096, length: 4096, uncompressedLength: 0 });
      }
      idx.addPack(id(`big${p}`), blobs);
    }
    expect(idx.blobCount).toBe(N);
    expect(idx.arrayBytes / N).toBeLessThanOrEqual(64);
    expect(idx.lookup('data', raw.toString('hex', 123_456 * 32, 123_457 * 32))[0]).toMatchObject({
      packId: id('big123'),
      offset: 456 * 4096,
    });
  });

  it('looks up binary IDs as the backup pipeline hands them over', () => {
    const idx = new MasterIndex();
    idx.addPack(id('p'), [blob('bin', 0)]);
    expect(idx.hasId('data', Buffer.from(id('bin'), 'hex'))).toBe(true);
    expect(idx.hasId('tree', Buffer.from(id('bin'), 'hex'))).toBe(false);
  });
});
