/** Format codecs: packs, index files, config, snapshots, key files, v2 framing, repository round trips. */
import { describe, expect, it } from 'vitest';
import { MemoryBackend, Repository } from '../../src/index.js';
import { decodeHeader, encodeHeader, packSizeFromBlobs, parsePackBytes, PackWriter, type PackedBlob } from '../../src/format/pack.js';
import { decodeIndex, encodeIndex } from '../../src/format/index-file.js';
import { decodeConfig, encodeConfig } from '../../src/format/config.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/format/snapshot.js';
import { decodeKeyFile, encodeKeyFile } from '../../src/format/key.js';
import { frameUnpacked, unframeUnpacked } from '../../src/format/unpacked.js';
import { hashId } from '../../src/format/id.js';
import { newRandomKey, encrypt } from '../../src/crypto/index.js';
import { FormatError } from '../../src/errors.js';

const id = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const KDF = { N: 1024, r: 8, p: 1 };

describe('pack header', () => {
  const blobs: PackedBlob[] = [
    { type: 'data', id: id(1), offset: 0, length: 100, uncompressedLength: 0 },
    { type: 'tree', id: id(2), offset: 100, length: 50, uncompressedLength: 0 },
    { type: 'data', id: id(3), offset: 150, length: 70, uncompressedLength: 200 },
    { type: 'tree', id: id(4), offset: 220, length: 40, uncompressedLength: 90 },
  ];
  it('encodes entry types 0–3 with the right sizes and decodes them back', () => {
    const h = encodeHeader(blobs);
    expect(h.length).toBe(37 + 37 + 41 + 41);
    expect([h[0], h[37], h[74], h[115]]).toEqual([0, 1, 2, 3]);
    expect(decodeHeader(h)).toEqual(blobs);
  });
  it('rejects unknown types and truncated entries', () => {
    const h = Buffer.from(encodeHeader(blobs));
    h[0] = 4;
    expect(() => decodeHeader(h)).toThrow(FormatError);
    expect(() => decodeHeader(encodeHeader(blobs).subarray(0, 40))).toThrow(FormatError);
  });
  it('a written pack is read back from its tail, with the size restic predicts', async () => {
    const key = newRandomKey();
    const w = new PackWriter();
    for (let i = 0; i < 40; i++) {
      const plain = Buffer.alloc(1000 + i, i);
      w.add('data', hashId(plain), encrypt(key, plain), 0);
    }
    const { id: packId, bytes } = w.finish(key);
    expect(packId).toBe(hashId(bytes));
    expect(bytes.length).toBe(w.size);
    const { blobs: read, headerSize } = await parsePackBytes(key, packId, bytes);
    expect(read).toEqual(w.blobs);
    expect(packSizeFromBlobs(read)).toBe(bytes.length);
    expect(headerSize).toBe(40 * 37 + 32 + 4);
  });
});

describe('index files', () => {
  const packs = [{ id: id(9), blobs: [{ type: 'data' as const, id: id(1), offset: 0, length: 100, uncompressedLength: 300 }] }];
  it('is compact JSON with a trailing newline, uncompressed_length only when compressed', () => {
    const s = Buffer.from(encodeIndex({ supersedes: [], packs })).toString();
    expect(s).toBe(
      `{"packs":[{"id":"${id(9)}","blobs":[{"id":"${id(1)}","type":"data","offset":0,"length":100,"uncompressed_length":300}]}]}\n`,
    );
    expect(decodeIndex(Buffer.from(s)).packs).toEqual(packs);
  });
  it('reads the legacy array format', () => {
    const legacy = `[{"id":"${id(9)}","blobs":[{"id":"${id(1)}","type":"tree","offset":5,"length":60}]}]`;
    const idx = decodeIndex(Buffer.from(legacy));
    expect(idx.legacy).toBe(true);
    expect(idx.packs[0]!.blobs[0]).toEqual({ type: 'tree', id: id(1), offset: 5, length: 60, uncompressedLength: 0 });
  });
  it('keeps supersedes', () => {
    const s = encodeIndex({ supersedes: [id(7)], packs: [] });
    expect(Buffer.from(s).toString()).toBe(`{"supersedes":["${id(7)}"],"packs":[]}\n`);
    expect(decodeIndex(s).supersedes).toEqual([id(7)]);
  });
});

describe('config, snapshot, key file', () => {
  it('config JSON in restic order, polynomial as lowercase hex', () => {
    const c = { version: 2, id: id(5), chunkerPolynomial: 0x3da3358b4dc173n };
    expect(Buffer.from(encodeConfig(c)).toString()).toBe(`{"version":2,"id":"${id(5)}","chunker_polynomial":"3da3358b4dc173"}`);
    expect(decodeConfig(encodeConfig(c))).toEqual(c);
    expect(() => decodeConfig(Buffer.from(`{"version":3,"id":"${id(5)}","chunker_polynomial":"1"}`))).toThrow(/version 3/);
    // old restic wrote a trailing newline
    expect(decodeConfig(Buffer.from(Buffer.from(encodeConfig(c)).toString() + '\n'))).toEqual(c);
  });
  it('snapshot JSON matches restic 0.14 byte for byte', () => {
    const expected = `{"time":"2026-11-22T11:47:56.323661388Z","parent":"${id(3)}","tree":"${id(4)}","paths":["/srv/src"],"hostname":"testhost","username":"root"}`;
    const s = decodeSnapshot(Buffer.from(expected));
    expect(Buffer.from(encodeSnapshot(s)).toString()).toBe(expected);
    const withTags = encodeSnapshot({ time: '2020-01-01T00:00:00Z', tree: id(4), paths: ['/a<b>'], tags: ['x&y'], uid: 1000, gid: 100 });
    expect(Buffer.from(withTags).toString()).toBe(
      `{"time":"2020-01-01T00:00:00Z","tree":"${id(4)}","paths":["/a\\u003cb\\u003e"],"uid":1000,"gid":100,"tags":["x\\u0026y"]}`,
    );
  });
  it('key file JSON in restic order', () => {
    const k = {
      created: '2026-01-02T03:04:05.5Z',
      username: 'u',
      hostname: 'h',
      kdf: 'scrypt',
      N: 32768,
      r: 8,
      p: 3,
      salt: new Uint8Array(64).fill(1),
      data: new Uint8Array(160).fill(2),
    };
    const s = Buffer.from(encodeKeyFile(k)).toString();
    expect(s).toMatch(
      /^\{"created":"2026-01-02T03:04:05.5Z","username":"u","hostname":"h","kdf":"scrypt","N":32768,"r":8,"p":3,"salt":"AQEB[^"]*","data":"AgIC[^"]*"\}$/,
    );
    expect(decodeKeyFile(Buffer.from(s))).toEqual(k);
  });
});

describe('v2 framing of unpacked files', () => {
  const json = Buffer.from('{"a":1}');
  it('v2 writes 0x02 + zstd; v1 writes plain JSON', () => {
    const f = frameUnpacked(json, 2);
    expect(f[0]).toBe(2);
    expect(Buffer.from(f.subarray(1, 5)).toString('hex')).toBe('28b52ffd');
    expect(Buffer.from(unframeUnpacked(f, 2)).toString()).toBe('{"a":1}');
    expect(frameUnpacked(json, 1)).toBe(json);
  });
  it('v2 reads plain JSON objects and arrays, rejects other version bytes', () => {
    expect(Buffer.from(unframeUnpacked(json, 2)).toString()).toBe('{"a":1}');
    expect(Buffer.from(unframeUnpacked(Buffer.from('[1]'), 2)).toString()).toBe('[1]');
    expect(() => unframeUnpacked(Buffer.from([3, 1, 2]), 2)).toThrow(/not supported encoding format/);
  });
});

describe('repository on the memory backend', () => {
  it.each([1, 2])('v%i: blobs de-duplicate, reload verified, index and snapshot survive reopening', async (version) => {
    const be = new MemoryBackend();
    const repo = await Repository.init(be, 'pw', { version, kdf: KDF, workers: 0, packSize: 64 * 1024 });
    const blobs = Array.from({ length: 50 }, (_, i) => Buffer.alloc(5000 + i, i % 7 === 0 ? 0 : i));
    const ids = [];
    for (const b of blobs) ids.push((await repo.saveBlob('data', b)).id);
    expect((await repo.saveBlob('data', blobs[3]!)).known).toBe(true);
    const treeId = await repo.saveTree([]);
    await repo.flush();
    const snap = await repo.saveSnapshot({ time: '2026-01-01T00:00:00Z', tree: treeId, paths: ['/x'] });
    let packs = 0;
    for await (const _ of be.list('pack')) packs++;
    expect(packs).toBeGreaterThan(1); // small pack size: several data packs + one tree pack

    const again = await Repository.open(be, 'pw');
    await again.loadIndex();
    for (let i = 0; i < blobs.length; i++) expect(Buffer.from(await again.loadBlob('data', ids[i]!)).equals(blobs[i]!)).toBe(true);
    expect(await again.loadTree(treeId)).toEqual([]);
    const found = await again.findSnapshot(snap.slice(0, 6));
    expect(found.id).toBe(snap);
    expect((await again.findSnapshot('latest')).id).toBe(snap);
    if (version === 2) {
      // zeros compress: the index records uncompressed_length for them
      const loc = again.index.lookup('data', ids[0]!)[0]!;
      expect(loc.uncompressedLength).toBe(5000);
    } else {
      for (const p of again.index.allPacks()) for (const b of p.blobs) expect(b.uncompressedLength).toBe(0);
    }
  });
});
