/**
 * IndexStreamScanner: an index file scanned in pieces gives the packs decodeIndexPacks gives
 * (a pack read blob by blob arrives in batches of the same pack), for every way of cutting
 * the JSON; what it cannot scan it leaves to the whole-file decode (end() is null).
 */
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { IndexStreamScanner, decodeIndex, encodeIndex, type IndexPack } from '../../src/format/index-file.js';
import type { PackedBlob } from '../../src/format/pack.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

function packs(count: number, blobs: number): Array<{ id: string; blobs: PackedBlob[] }> {
  return Array.from({ length: count }, (_, p) => ({
    id: id(p + 1),
    blobs: Array.from({ length: blobs + p }, (_, b) => ({
      id: id(1_000_000 * (p + 1) + b),
      type: b % 3 ? ('data' as const) : ('tree' as const),
      offset: b * 100,
      length: 100,
      uncompressedLength: b % 2 ? 150 : 0,
    })),
  }));
}

/** Scan `json` cut into pieces of `size` bytes; the packs merged by ID in order of arrival. */
function scan(json: Uint8Array, size: number) {
  const got: IndexPack[] = [];
  const s = new IndexStreamScanner('x', (p) => got.push({ id: p.id, blobs: [...p.blobs] }));
  for (let i = 0; i < json.length; i += size) s.push(json.subarray(i, i + size));
  const head = s.end();
  const merged = new Map<string, PackedBlob[]>();
  for (const p of got) merged.set(p.id, [...(merged.get(p.id) ?? []), ...p.blobs]);
  return { head, packs: [...merged].map(([pid, blobs]) => ({ id: pid, blobs })), calls: got.length };
}

describe('an index file scanned in pieces', () => {
  it('gives what the whole-file decode gives, for pieces of every size', () => {
    const json = encodeIndex({ supersedes: [id(7), id(8)], packs: packs(6, 5) });
    const whole = decodeIndex(json);
    for (const size of [1, 2, 3, 7, 81, 82, 83, 500, json.length]) {
      const r = scan(json, size);
      expect(r.head).toEqual({ supersedes: [id(7), id(8)] });
      expect(r.packs).toEqual(whole.packs);
    }
  });

  it('reads a pack of 10,000 blobs blob by blob, in batches', () => {
    const json = encodeIndex({ supersedes: [], packs: packs(2, 10_000) });
    const r = scan(json, 65536);
    expect(r.packs).toEqual(decodeIndex(json).packs);
    expect(r.calls).toBe(6); // 10,000 and 10,001 blobs: batches of 4,096
  });

  it('takes indented JSON, other key orders, the legacy array and empty packs', () => {
    const ps = packs(3, 2);
    const cases = [
      JSON.stringify({ supersedes: [id(1)], packs: ps.map(restic) }, null, 2),
      JSON.stringify({ packs: ps.map(restic), supersedes: [id(1)] }),
      JSON.stringify(ps.map(restic)),
      JSON.stringify({
        packs: [
          { id: id(5), blobs: [] },
          { blobs: [], id: id(6) },
        ],
      }),
      '{}',
    ];
    for (const text of cases) {
      const json = Buffer.from(text);
      const whole = decodeIndex(json);
      for (const size of [1, 13, 4096]) {
        const r = scan(json, size);
        expect(r.head).toEqual(whole.legacy ? { supersedes: [], legacy: true } : { supersedes: whole.supersedes });
        expect(r.packs).toEqual(whole.packs);
      }
    }
  });

  it('leaves what it cannot scan to the whole-file decode, and refuses malformed entries as it does', () => {
    for (const text of [
      '{"packs":[{"id":',
      '{"packs":[]} x',
      '{"packs":[],"packs":[]}',
      'null',
      '{"packs":[{"id":"' + id(1) + '","blobs":[{"id":1]}]}',
    ]) {
      expect(scan(Buffer.from(text), 5).head).toBeNull();
    }
    const bad = Buffer.from(`{"packs":[{"id":"${id(1)}","blobs":[{"id":"${id(2)}","type":"data","offset":-1,"length":5}]}]}`);
    expect(() => scan(bad, 7)).toThrow(FormatError);
    expect(() => decodeIndex(bad)).toThrow(FormatError);
  });
});

/** A pack as restic's JSON has it (uncompressed_length only when set). */
function restic(p: { id: string; blobs: PackedBlob[] }) {
  return {
    id: p.id,
    blobs: p.blobs.map((b) => ({
      id: b.id,
      type: b.type,
      offset: b.offset,
      length: b.length,
      ...(b.uncompressedLength ? { uncompressed_length: b.uncompressedLength } : {}),
    })),
  };
}
