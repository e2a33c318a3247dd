/**
 * Compact blob lists and ID sets of the backup pipeline: the same pack headers, index JSON
 * and index entries as the object forms, and a set that stays right through removals.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobIdSet, BlobList, blobListTransfer } from '../../dist/format/blob-list.js';
import { decodeHeader, encodeHeader, type PackedBlob } from '../../dist/format/pack.js';
import { decodeIndex, encodeIndex, indexJsonBound, writeIndexJson } from '../../dist/format/index-file.js';
import { frameUnpackedWritten, unframeUnpacked } from '../../dist/format/unpacked.js';
import { MemoryBackend, Repository } from '../../dist/index.js';
import { MasterIndex } from '../../dist/repository/master-index.js';
import { StreamEncryptor, decrypt, loadPoly1305, newRandomKey } from '../../dist/crypto/index.js';

const hex = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

function sampleBlobs(n: number): PackedBlob[] {
  const out: PackedBlob[] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const length = 33 + ((i * 7919) % 70000);
    // lengths and offsets up to the uint32 range, compressed and not, both types
    const uncompressedLength = i % 3 ? 0 : i === 3 ? 0xffffffff : length * 3;
    out.push({ type: i % 5 ? 'data' : 'tree', id: hex(`b${i}`), offset: i === 7 ? 0xfffffff0 : offset, length, uncompressedLength });
    offset += length;
  }
  return out;
}

describe('StreamEncryptor', () => {
  // First in this file: the pure-JS MAC runs before libsodium is loaded, then libsodium's.
  it('gives what decrypt() opens, in pieces, with and without libsodium', async () => {
    const key = newRandomKey();
    const plain = crypto.randomBytes(200_000);
    for (const round of [0, 1]) {
      if (round) await loadPoly1305();
      const e = new StreamEncryptor(key);
      const parts: Uint8Array[] = [e.iv];
      for (let off = 0; off < plain.length; off += 65_537) parts.push(e.update(plain.subarray(off, off + 65_537)));
      parts.push(e.final());
      expect(Buffer.from(decrypt(key, Buffer.concat(parts))).equals(plain)).toBe(true);
    }
  });
});

describe('BlobList', () => {
  const blobs = sampleBlobs(10000); // several full pages and a partial one
  const list = BlobList.of(blobs);

  it('gives back every field, by index and by iteration', () => {
    expect(list.length).toBe(10000);
    expect([...list]).toEqual(blobs);
    expect(list.get(7)).toEqual(blobs[7]);
    expect(Buffer.from(list.idBytes(5)).toString('hex')).toBe(blobs[5]!.id);
  });

  it('survives a round trip through a worker message (its pages transferred)', () => {
    const d = BlobList.of(blobs).data();
    const { port1, port2 } = new MessageChannel();
    const got = new Promise<BlobList>((resolve) => port2.once('message', (m) => resolve(BlobList.fromData(m))));
    port1.postMessage(d, blobListTransfer(d));
    return got.then((l) => {
      expect([...l]).toEqual(blobs);
      port1.close();
      port2.close();
    });
  });

  it('encodes the same pack header and index JSON as the objects', () => {
    expect(Buffer.from(encodeHeader(list)).equals(Buffer.from(encodeHeader(blobs)))).toBe(true);
    expect(decodeHeader(encodeHeader(list)).map((b) => b.id)).toEqual(blobs.map((b) => b.id));
    const asObjects = encodeIndex({
      supersedes: [hex('old')],
      packs: [
        { id: hex('p1'), blobs },
        { id: hex('p2'), blobs: [] },
      ],
    });
    const asList = encodeIndex({
      supersedes: [hex('old')],
      packs: [
        { id: hex('p1'), blobs: list },
        { id: hex('p2'), blobs: new BlobList() },
      ],
    });
    expect(Buffer.from(asList).equals(Buffer.from(asObjects))).toBe(true);
    // and what JSON.stringify in restic's field order gives
    const json = (b: PackedBlob) => ({
      id: b.id,
      type: b.type,
      offset: b.offset,
      length: b.length,
      ...(b.uncompressedLength ? { uncompressed_length: b.uncompressedLength } : {}),
    });
    const expected =
      JSON.stringify({
        supersedes: [hex('old')],
        packs: [
          { id: hex('p1'), blobs: blobs.map(json) },
          { id: hex('p2'), blobs: [] },
        ],
      }) + '\n';
    expect(Buffer.from(asList).toString()).toBe(expected);
    expect(decodeIndex(asList).packs[0]!.blobs).toEqual(blobs);
  });

  it('refuses an ID that is not 64 hex digits', () => {
    expect(() =>
      encodeIndex({ supersedes: [], packs: [{ id: hex('p'), blobs: [{ ...blobs[0]!, id: 'zz' + blobs[0]!.id.slice(2) }] }] }),
    ).toThrow(TypeError);
    expect(() => new BlobList().push('data', 'abc', 0, 1, 0)).toThrow(TypeError);
  });

  it('indexes like the objects do', () => {
    const a = new MasterIndex();
    const b = new MasterIndex();
    a.addPack(hex('p1'), blobs);
    b.addPack(hex('p1'), list);
    expect(b.counts()).toEqual(a.counts());
    expect(b.packContents(hex('p1'))).toEqual(a.packContents(hex('p1')));
    for (const x of blobs.slice(0, 50)) expect(b.lookup(x.type, x.id)).toEqual(a.lookup(x.type, x.id));
    // a pack's blobs read back from the index's arrays write the same index JSON
    const view = b.packBlobs(hex('p1'))!;
    expect(view.length).toBe(blobs.length);
    expect(
      Buffer.from(encodeIndex({ supersedes: [], packs: [{ id: hex('p1'), blobs: view }] })).equals(
        Buffer.from(encodeIndex({ supersedes: [], packs: [{ id: hex('p1'), blobs }] })),
      ),
    ).toBe(true);
    expect(b.packBlobs(hex('nope'))).toBeUndefined();
  });
});

describe('BlobIdSet', () => {
  it('agrees with a Set of strings through many adds and removals', () => {
    const set = new BlobIdSet();
    const ref = new Set<string>();
    const id = (n: number) => Buffer.from(hex(`x${n}`), 'hex');
    let seed = 1;
    const rnd = (m: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % m;
    for (let step = 0; step < 60000; step++) {
      const n = rnd(5000);
      const type = n % 4 ? 'data' : 'tree';
      // the same ID under the other type is a different member
      const other = rnd(7) === 0;
      const t = other ? (type === 'data' ? 'tree' : 'data') : type;
      const k = t + n;
      if (rnd(3)) {
        expect(set.add(t, id(n))).toBe(!ref.has(k));
        ref.add(k);
      } else {
        expect(set.delete(t, id(n))).toBe(ref.delete(k));
      }
    }
    expect(set.size).toBe(ref.size);
    for (let n = 0; n < 5000; n++) for (const t of ['data', 'tree'] as const) expect(set.has(t, id(n))).toBe(ref.has(t + n));
  });
});

describe('index files written into the compressor', () => {
  const idx = {
    supersedes: [],
    packs: [
      { id: hex('p1'), blobs: BlobList.of(sampleBlobs(3000)) },
      { id: hex('p2'), blobs: sampleBlobs(10) },
    ],
  };
  const json = Buffer.from(encodeIndex(idx));

  it('frame the same JSON as encodeIndex, compressed in v2 and plain in v1', () => {
    for (const version of [1, 2]) {
      const framed = frameUnpackedWritten(indexJsonBound(idx), (out) => writeIndexJson(idx, out), version);
      if (version === 2) expect(framed[0]).toBe(2);
      expect(Buffer.from(unframeUnpacked(framed, version)).equals(json)).toBe(true);
    }
  });

  it('are stored by saveIndexFile and read back by the repository', async () => {
    const repo = await Repository.init(new MemoryBackend(), 'pw', { kdf: { N: 1024, r: 8, p: 1 } });
    const id = await repo.saveIndexFile(idx);
    expect(Buffer.from(await repo.loadUnpacked('index', id)).equals(json)).toBe(true);
    await repo.loadIndex();
    expect(repo.index.counts().entries).toBe(3010);
    await repo.close();
  });
});

describe('BlobIdSet.forEach', () => {
  it('visits every member once, in insertion order, skipping deleted ones', () => {
    const set = new BlobIdSet();
    const ids = Array.from({ length: 3000 }, (_, i) => crypto.createHash('sha256').update(`blob ${i}`).digest());
    ids.forEach((id, i) => set.add(i % 3 ? 'data' : 'tree', id));
    for (let i = 0; i < 3000; i += 7) set.delete(i % 3 ? 'data' : 'tree', ids[i]!);
    const seen: string[] = [];
    set.forEach((type, id) => seen.push(`${type}/${Buffer.from(id).toString('hex')}`));
    const want = ids.flatMap((id, i) => (i % 7 ? [`${i % 3 ? 'data' : 'tree'}/${id.toString('hex')}`] : []));
    expect(seen).toEqual(want);
    expect(seen).toHaveLength(set.size);
  });
});
