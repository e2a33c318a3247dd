/**
 * The WebAssembly chunker (4 lanes side by side, input copied into WASM memory in pieces,
 * a JS ring loop for short ranges) against a plain transcription of restic/chunker's Next()
 * that has none of those paths. The transcription is itself checked against restic's
 * vectors. Random data with several polynomials, piece sizes at every internal boundary,
 * minSize/maxSize/averageBits edges, low-entropy data, and chunkers taking turns.
 */
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  Chunker,
  MAX_SIZE,
  MIN_SIZE,
  chunkBuffer,
  chunkReadSync,
  chunkStream,
  deg,
  randomPolynomial,
  tableValues,
  type ChunkerOptions,
} from '../../src/chunker/index.js';
import { HEAD, LANES, PIECE, STRIDE } from '../../src/chunker/wasm.js';
import { templateSource } from '../../scripts/chunker-wasm/asm.js';
import { getRandom } from '../helpers/gorand.js';
import { rng } from '../helpers/rng.js';

const testPol = 0x3da3358b4dc173n;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Cut {
  length: number;
  cut: bigint;
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
function randomData(seed: number, length: number): Uint8Array {
  const key = createHash('sha256').update(`chunker-wasm ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** restic/chunker's Next() transcribed byte by byte: ring window, one digest, no fast paths. */
function reference(data: Uint8Array, pol: bigint, opts: ChunkerOptions = {}): Cut[] {
  const { minSize = MIN_SIZE, maxSize = MAX_SIZE, averageBits = 20 } = opts;
  const mask = averageBits === 32 ? -1 : (1 << averageBits) - 1;
  // The digest (< 2^61) as hi (bits 32–63) and lo (bits 0–31) int32 halves.
  const outHi = new Int32Array(256);
  const outLo = new Int32Array(256);
  const modHi = new Int32Array(256);
  const modLo = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const t = tableValues(pol, b);
    outHi[b] = Number(t.out >> 32n);
    outLo[b] = Number(t.out & 0xffffffffn);
    modHi[b] = Number(t.mod >> 32n);
    modLo[b] = Number(t.mod & 0xffffffffn);
  }
  const indexShift = deg(pol) - 8 - 32;
  const window = new Uint8Array(64);
  let wpos = 0;
  let hi = 0;
  let lo = 0;
  const slide = (b: number) => {
    const out = window[wpos]!;
    window[wpos] = b;
    wpos = (wpos + 1) % 64;
    hi ^= outHi[out]!;
    lo ^= outLo[out]!;
    const index = hi >>> indexShift;
    hi = ((hi << 8) | (lo >>> 24)) ^ modHi[index]!;
    lo = ((lo << 8) | b) ^ modLo[index]!;
  };
  const reset = () => {
    window.fill(0);
    wpos = 0;
    hi = lo = 0;
    slide(1);
  };
  const digest = () => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const cuts: Cut[] = [];
  reset();
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    count++;
    if (count <= minSize - 64) continue; // restic does not hash the first MinSize − 64 bytes
    slide(data[i]!);
    if (((lo & mask) === 0 || count >= maxSize) && count >= minSize) {
      cuts.push({ length: count, cut: digest() });
      count = 0;
      reset();
    }
  }
  if (count > 0) cuts.push({ length: count, cut: digest() });
  return cuts;
}

/** Piece sizes cycling through `sizes`. */
function* pieces(data: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  for (let i = 0, k = 0; i < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - i);
    yield data.subarray(i, i + n);
    i += n;
  }
}

/**
 * Feeds data to one Chunker through next() in pieces of `sizes`, checking pending and
 * digest before the final flush against what the stream's last chunk must get.
 */
function streamCuts(data: Uint8Array, pol: bigint, opts: ChunkerOptions, sizes: number[]): Cut[] {
  const c = new Chunker(pol, opts);
  const cuts: Cut[] = [];
  let length = 0;
  for (const piece of pieces(data, sizes)) {
    let start = 0;
    for (let end = c.next(piece, 0); end >= 0; end = c.next(piece, start)) {
      cuts.push({ length: length + end - start, cut: c.cut });
      length = 0;
      start = end;
    }
    length += piece.length - start;
  }
  expect(c.pending).toBe(length);
  const digest = c.digest;
  expect(c.flush()).toBe(length);
  if (length > 0) {
    expect(c.cut).toBe(digest);
    cuts.push({ length, cut: c.cut });
  }
  return cuts;
}

const boundaryCuts = (cuts: { length: number; cut: bigint }[]) => cuts.map(({ length, cut }) => ({ length, cut }));

/** Sizes at every internal threshold: ring/WASM switch, lane minimum, pieces, blocks. */
const awkward = [
  1,
  63,
  64,
  65,
  1023,
  1024,
  1025,
  2 * LANES * 256 - 1,
  2 * LANES * 256 + 1,
  LANES * STRIDE - 1,
  PIECE,
  PIECE + 1,
  PIECE + HEAD - 1,
  PIECE + HEAD + 63,
  2 * PIECE + 7,
  3 * MiB + 5,
  777,
];

describe('WASM module', () => {
  it('is embedded exactly as the assembler makes it', () => {
    const embedded = fs.readFileSync(new URL('../../src/chunker/wasm-template.ts', import.meta.url), 'utf8');
    expect(embedded).toBe(templateSource());
  });
});

describe('reference transcription', () => {
  it('gives restic’s vectors (chunks1 and chunks3 heads, TestChunker / TestChunkerWithoutHash)', () => {
    const data = getRandom(23, 32 * MiB).subarray(0, 8 * MiB);
    expect(reference(data, testPol).slice(0, 4)).toEqual([
      { length: 2163460, cut: 0x000b98d4cdf00000n },
      { length: 643703, cut: 0x000d4e8364d00000n },
      { length: 1528956, cut: 0x0015a25c2ef00000n },
      { length: 1955808, cut: 0x00102a8242e00000n },
    ]);
    expect(reference(data, testPol, { averageBits: 19 }).slice(0, 3)).toEqual([
      { length: 1491586, cut: 0x00023e586ea80000n },
      { length: 671874, cut: 0x000b98d4cdf00000n },
      { length: 643703, cut: 0x000d4e8364d00000n },
    ]);
  });
});

describe('WASM chunker = reference', () => {
  const next = rng(6);
  const polynomials = [
    testPol,
    ...[1, 2, 3].map(() => randomPolynomial((n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256)))),
    (1n << 40n) | 0x9c3a5bn, // degree 40: the smallest the chunker takes
    (1n << 47n) | 0x5f21n,
  ];

  it.each(polynomials.map((pol) => [`0x${pol.toString(16)}`, pol] as const))('random data, polynomial %s', (_, pol) => {
    const data = randomData(Number(pol % 1000n), 12 * MiB);
    for (const opts of [
      {},
      { minSize: 4 * KiB, maxSize: 128 * KiB, averageBits: 14 },
      { minSize: 64, maxSize: 64 * KiB, averageBits: 17 },
    ]) {
      const want = reference(data, pol, opts);
      expect(want.length).toBeGreaterThanOrEqual(4);
      expect(boundaryCuts(chunkBuffer(data, pol, opts)), JSON.stringify(opts)).toEqual(want);
    }
  });

  it('pieces of every awkward size, through next(), chunkReadSync and chunkStream', async () => {
    const data = randomData(7, 24 * MiB);
    const opts = { minSize: 256 * KiB, maxSize: 2 * MiB, averageBits: 18 };
    const want = reference(data, testPol, opts);
    expect(want.length).toBeGreaterThan(20);
    expect(streamCuts(data, testPol, opts, awkward), 'awkward cycle').toEqual(want);
    expect(streamCuts(data, testPol, opts, [...awkward].reverse()), 'reversed').toEqual(want);
    const r = rng(8);
    const randomSizes = Array.from({ length: 300 }, () => Math.floor(r() ** 3 * 3 * PIECE) + 1);
    expect(streamCuts(data, testPol, opts, randomSizes), 'random sizes').toEqual(want);
    for (const size of [PIECE, PIECE + HEAD, 1025]) expect(streamCuts(data, testPol, opts, [size]), `${size}`).toEqual(want);

    let pos = 0;
    let k = 0;
    const read = (buf: Uint8Array, offset: number, length: number): number => {
      const n = Math.min(length, awkward[k++ % awkward.length]!, data.length - pos);
      buf.set(data.subarray(pos, pos + n), offset);
      pos += n;
      return n;
    };
    const viaRead = [...chunkReadSync(read, testPol, opts)].map((c) => ({ length: c.data.length, cut: c.cut }));
    expect(viaRead).toEqual(want);
    const viaStream = [];
    for await (const c of chunkStream(pieces(data, randomSizes), testPol, opts)) viaStream.push({ length: c.data.length, cut: c.cut });
    expect(viaStream).toEqual(want);
  });

  it('minSize, maxSize and averageBits edges', () => {
    const data = randomData(9, 3 * MiB + 17);
    const cases: ChunkerOptions[] = [
      { minSize: 64, maxSize: 64 },
      { minSize: 64, maxSize: 65, averageBits: 1 },
      { minSize: 65, maxSize: 200, averageBits: 4 },
      { minSize: 64, maxSize: MiB, averageBits: 0 }, // every byte from minSize on is a cut
      { minSize: 64, maxSize: 4 * MiB, averageBits: 2 }, // hits in every lane
      { minSize: 64, maxSize: 4 * MiB, averageBits: 9 },
      { minSize: 64, maxSize: PIECE - 1, averageBits: 32 }, // only maxSize cuts
      { minSize: 64, maxSize: PIECE, averageBits: 32 },
      { minSize: 64, maxSize: PIECE + 1, averageBits: 32 },
      { minSize: 1000, maxSize: PIECE + HEAD + 1, averageBits: 32 },
      { minSize: PIECE, maxSize: PIECE, averageBits: 20 },
      { minSize: PIECE - 1, maxSize: PIECE + 64, averageBits: 16 },
      { minSize: 1023, maxSize: 1024 + 64, averageBits: 8 },
      { minSize: 4096, maxSize: 8192, averageBits: 12 },
    ];
    for (const opts of cases) {
      const want = reference(data, testPol, opts);
      const label = JSON.stringify(opts);
      expect(boundaryCuts(chunkBuffer(data, testPol, opts)), label).toEqual(want);
      expect(streamCuts(data, testPol, opts, [PIECE + 3, 100, 1, 70_000]), label).toEqual(want);
    }
  });

  it('a final chunk with fewer than 64 hashed bytes is cut at a digest that still holds the reset byte', () => {
    const data = randomData(10, 5000);
    for (const length of [1000 - 64, 1000 - 63, 1000 - 30, 1000 - 1, 1000, 1050, 5000]) {
      const opts = { minSize: 1000, maxSize: 4000, averageBits: 32 };
      const slice = data.subarray(0, length);
      const want = reference(slice, testPol, opts);
      expect(boundaryCuts(chunkBuffer(slice, testPol, opts)), `${length}`).toEqual(want);
      expect(streamCuts(slice, testPol, opts, [1, 2000]), `${length}`).toEqual(want);
    }
  });

  it('low-entropy data: zeros with random islands, a repeated pattern, text', () => {
    const zeros = new Uint8Array(6 * MiB);
    for (let i = 0; i < 40; i++) zeros.set(randomData(100 + i, 100 + i * 997), (i * 151_357) % (zeros.length - 50_000));
    const pattern = new Uint8Array(6 * MiB);
    const unit = randomData(11, 1000);
    for (let i = 0; i < pattern.length; i += unit.length) pattern.set(unit.subarray(0, Math.min(unit.length, pattern.length - i)), i);
    const words = ['restic', 'chunk', 'polynomial', 'window', 'digest', '\n', ' ', 'the', 'lane'];
    const r = rng(12);
    let text = '';
    while (text.length < 4 * MiB) text += words[Math.floor(r() * words.length)]! + ' ';
    for (const data of [zeros, pattern, new TextEncoder().encode(text)]) {
      for (const opts of [{}, { minSize: 2 * KiB, maxSize: 64 * KiB, averageBits: 12 }]) {
        const want = reference(data, testPol, opts);
        expect(boundaryCuts(chunkBuffer(data, testPol, opts))).toEqual(want);
        expect(streamCuts(data, testPol, opts, [PIECE - 5, 333])).toEqual(want);
      }
    }
  });

  it('chunkers with different polynomials and masks taking turns share the module correctly', () => {
    const pol2 = polynomials[1]!;
    const streams = [
      {
        pol: testPol,
        opts: { minSize: 64 * KiB, maxSize: MiB, averageBits: 16 },
        data: randomData(13, 8 * MiB),
        sizes: [PIECE + 11, 5000],
      },
      { pol: pol2, opts: { minSize: 64 * KiB, maxSize: MiB, averageBits: 16 }, data: randomData(14, 8 * MiB), sizes: [3 * PIECE, 700] },
      { pol: testPol, opts: { minSize: 4 * KiB, maxSize: 256 * KiB, averageBits: 13 }, data: randomData(15, 8 * MiB), sizes: [100_000] },
      { pol: polynomials[4]!, opts: {}, data: randomData(16, 8 * MiB), sizes: [2 * MiB + 1] },
    ].map((s) => ({ ...s, chunker: new Chunker(s.pol, s.opts), it: pieces(s.data, s.sizes), cuts: [] as Cut[], length: 0, done: false }));
    for (let busy = true; busy;) {
      busy = false;
      for (const s of streams) {
        if (s.done) continue;
        const step = s.it.next();
        if (step.done) {
          s.done = true;
          const length = s.chunker.flush();
          if (length > 0) s.cuts.push({ length, cut: s.chunker.cut });
          continue;
        }
        busy = true;
        const piece = step.value;
        let start = 0;
        for (let end = s.chunker.next(piece, 0); end >= 0; end = s.chunker.next(piece, start)) {
          s.cuts.push({ length: s.length + end - start, cut: s.chunker.cut });
          s.length = 0;
          start = end;
        }
        s.length += piece.length - start;
      }
    }
    for (const s of streams) expect(s.cuts).toEqual(reference(s.data, s.pol, s.opts));
  });
});
