import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { decodeIndex, decodeIndexPacks, type IndexPack } from '../../src/format/index-file.js';

const id = (n: number) => n.toString(16).padStart(64, '0');
const enc = (o: unknown, space?: number) => Buffer.from(JSON.stringify(o, null, space));

function sample(packs: number, blobs: number) {
  return {
    supersedes: [id(999)],
    packs: Array.from({ length: packs }, (_, p) => ({
      id: id(p + 1),
      blobs: Array.from({ length: blobs }, (_, b) => ({
        id: id(1000 * (p + 1) + b),
        type: b % 3 ? 'data' : 'tree',
        offset: b * 100,
        length: 100,
        ...(b % 2 ? { uncompressed_length: 150 } : {}),
      })),
    })),
  };
}

describe('index files decoded pack by pack', () => {
  it('gives each pack in order, compact or indented, with supersedes', () => {
    for (const space of [undefined, 2]) {
      const seen: IndexPack[] = [];
      const head = decodeIndexPacks(enc(sample(5, 7), space), 'x', (p) => seen.push(p));
      expect(head.supersedes).toEqual([id(999)]);
      expect(seen.map((p) => p.id)).toEqual([1, 2, 3, 4, 5].map(id));
      expect(seen[1]!.blobs[1]).toEqual({ id: id(2001), type: 'data', offset: 100, length: 100, uncompressedLength: 150 });
      expect(decodeIndex(enc(sample(5, 7), space)).packs).toEqual(seen);
    }
  });

  it('takes the legacy array form, unknown keys and key order', () => {
    const s = sample(2, 3);
    expect(decodeIndex(enc(s.packs))).toMatchObject({ legacy: true, supersedes: [] });
    expect(decodeIndex(enc(s.packs)).packs).toHaveLength(2);
    const odd = Buffer.from(`{"packs":${JSON.stringify(s.packs)},"x":{"a":[1,"]}"]},"supersedes":null}`);
    const r = decodeIndex(odd);
    expect(r.supersedes).toEqual([]);
    expect(r.packs.map((p) => p.id)).toEqual([id(1), id(2)]);
  });

  it('gives the same result as a whole-file parse for a repeated "packs" key (last wins)', () => {
    const s = sample(2, 1);
    const text = `{"packs":${JSON.stringify(s.packs)},"packs":${JSON.stringify([s.packs[1]])}}`;
    const seen: IndexPack[] = [];
    let restarts = 0;
    decodeIndexPacks(
      Buffer.from(text),
      'x',
      (p) => seen.push(p),
      () => {
        restarts++;
        seen.length = 0;
      },
    );
    expect(restarts).toBe(1);
    expect(seen.map((p) => p.id)).toEqual([id(2)]);
    expect(decodeIndex(Buffer.from(text)).packs.map((p) => p.id)).toEqual([id(2)]);
  });

  it('rejects malformed files as before', () => {
    const good = enc(sample(2, 2)).toString();
    for (const bad of [good.slice(0, -1), good + 'x', good.replace('"offset":100', '"offset":tru'), '{"packs":[{]}', '42', '']) {
      expect(() => decodeIndex(Buffer.from(bad)), bad.slice(-30)).toThrow(FormatError);
    }
    expect(() => decodeIndex(Buffer.from(good.replace('"type":"data"', '"type":"blob"')))).toThrow(/malformed blob entry/);
    expect(() => decodeIndex(Buffer.from('{"x": tru, "packs": []}'))).toThrow(/not valid JSON/);
  });
});
