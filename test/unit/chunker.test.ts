/**
 * restic's Rabin chunker against restic/chunker's own vectors (chunker_test.go, v0.4.0 and
 * HEAD; BSD-2-Clause, Alexander Neumann and the restic authors). Their input is 32 MiB from
 * Go's math/rand seeded with 23, reproduced by test/helpers/gorand.ts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  Chunker,
  MAX_SIZE,
  MIN_SIZE,
  chunkBuffer,
  chunkFileSync,
  chunkReadSync,
  chunkStream,
  randomPolynomial,
  tableValues,
  type ChunkerOptions,
} from '../../src/chunker/index.js';
import { GoRand, getRandom } from '../helpers/gorand.js';

const testPol = 0x3da3358b4dc173n;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Expected {
  length: number;
  cut: bigint;
  sha256: string;
}

function parse(rows: string): Expected[] {
  return rows
    .trim()
    .split('\n')
    .map((row) => {
      const [length, cut, sha256] = row.trim().split(/\s+/);
      return { length: Number(length), cut: BigInt(cut!), sha256: sha256! };
    });
}

const chunks1 = parse(`
  2163460 0x000b98d4cdf00000 4b94cb2cf293855ea43bf766731c74969b91aa6bf3c078719aabdd19860d590d
  643703 0x000d4e8364d00000 5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407
  1528956 0x0015a25c2ef00000 a73759636a1e7a2758767791c69e81b69fb49236c6929e5d1b654e06e37674ba
  1955808 0x00102a8242e00000 c955fb059409b25f07e5ae09defbbc2aadf117c97a3724e06ad4abd2787e6824
  2222372 0x00045da878000000 6ba5e9f7e1b310722be3627716cf469be941f7f3e39a4c3bcefea492ec31ee56
  2538687 0x00198a8179900000 8687937412f654b5cfe4a82b08f28393a0c040f77c6f95e26742c2fc4254bfde
  609606 0x001d4e8d17100000 5da820742ff5feb3369112938d3095785487456f65a8efc4b96dac4be7ebb259
  1205738 0x000a7204dd600000 cc70d8fad5472beb031b1aca356bcab86c7368f40faa24fe5f8922c6c268c299
  959742 0x00183e71e1400000 4065bdd778f95676c92b38ac265d361f81bff17d76e5d9452cf985a2ea5a4e39
  4036109 0x001fec043c700000 b9cf166e75200eb4993fc9b6e22300a6790c75e6b0fc8f3f29b68a752d42f275
  1525894 0x000b1574b1500000 2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3
  1352720 0x00018965f2e00000 afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84
  811884 0x00155628aa100000 42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a
  1282314 0x001909a0a1400000 819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58
  1318021 0x001cceb980000000 842eb53543db55bacac5e25cb91e43cc2e310fe5f9acc1aee86bdf5e91389374
  948640 0x0011f7a470a00000 b8e36bf7019bb96ac3fb7867659d2167d9d3b3148c09fe0de45850b8fe577185
  645464 0x00030ce2d9400000 5584bd27982191c3329f01ed846bfd266e96548dfa87018f745c33cfc240211d
  533758 0x0004435c53c00000 4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d
  1128303 0x0000c48517800000 08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f
  800374 0x000968473f900000 820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf
  2453512 0x001e197c92600000 5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853
  2651975 0x000ae6c868000000 181347d2bbec32bef77ad5e9001e6af80f6abcf3576549384d334ee00c1988d8
  237392 0x0000000000000001 fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978
`);

// Zero bytes, a multiple of MinSize long.
const chunks2 = parse(Array(4).fill(`${MIN_SIZE} 0x0 07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541`).join('\n'));

// chunks1's data with averageBits 19.
const chunks3 = parse(`
  1491586 0x00023e586ea80000 4c008237df602048039287427171cef568a6cb965d1b5ca28dc80504a24bb061
  671874 0x000b98d4cdf00000 fa8a42321b90c3d4ce9dd850562b2fd0c0fe4bdd26cf01a24f22046a224225d3
  643703 0x000d4e8364d00000 5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407
  1284146 0x0012b527e4780000 16d04cafecbeae9eaedd49da14c7ad7cdc2b1cc8569e5c16c32c9fb045aa899a
  823366 0x000d1d6752180000 48662c118514817825ad4761e8e2e5f28f9bd8281b07e95dcafc6d02e0aa45c3
  810134 0x0016071b6e180000 f629581aa05562f97f2c359890734c8574c5575da32f9289c5ba70bfd05f3f46
  567118 0x00102a8242e00000 d4f0797c56c60d01bac33bfd49957a4816b6c067fc155b026de8a214cab4d70a
  821315 0x001b3e42c8180000 8ebd0fd5db0293bd19140da936eb8b1bbd3cd6ffbec487385b956790014751ca
  1401057 0x00045da878000000 001360af59adf4871ef138cfa2bb49007e86edaf5ac2d6f0b3d3014510991848
  2311122 0x0005cbd885380000 8276d489b566086d9da95dc5c5fe6fc7d72646dd3308ced6b5b6ddb8595f0aa1
  608723 0x001cfcd86f280000 518db33ba6a79d4f3720946f3785c05b9611082586d47ea58390fc2f6de9449e
  980456 0x0013edb7a7f80000 0121b1690738395e15fecba1410cd0bf13fde02225160cad148829f77e7b6c99
  1140278 0x0001f9f017e80000 28ca7c74804b5075d4f5eeb11f0845d99f62e8ea3a42b9a05c7bd5f2fca619dd
  2015542 0x00097bf5d8180000 6fe8291f427d48650a5f0f944305d3a2dbc649bd401d2655fc0bdd42e890ca5a
  904752 0x000e1863eff80000 62af1f1eb3f588d18aff28473303cc4731fc3cafcc52ce818fee3c4c2820854d
  713072 0x001f3bb1b9b80000 4bda9dc2e3031d004d87a5cc93fe5207c4b0843186481b8f31597dc6ffa1496c
  675937 0x001fec043c700000 5299c8c5acec1b90bb020cd75718aab5e12abb9bf66291465fd10e6a823a8b4a
  1525894 0x000b1574b1500000 2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3
  1352720 0x00018965f2e00000 afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84
  811884 0x00155628aa100000 42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a
  1282314 0x001909a0a1400000 819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58
  1093738 0x0017f5d048880000 5dddfa7a241b68f65d267744bdb082ee865f3c2f0d8b946ea0ee47868a01bbff
  962003 0x000b921f7ef80000 0cb5c9ebba196b441c715c8d805f6e7143a81cd5b0d2c65c6aacf59ca9124af9
  856384 0x00030ce2d9400000 7734b206d46f3f387e8661e81edf5b1a91ea681867beb5831c18aaa86632d7fb
  533758 0x0004435c53c00000 4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d
  1128303 0x0000c48517800000 08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f
  800374 0x000968473f900000 820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf
  2453512 0x001e197c92600000 5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853
  665901 0x00118c842cb80000 deceec26163842fdef6560311c69bf8a9871a56e16d719e2c4b7e4d668ceb61f
  1986074 0x000ae6c868000000 64cd64bf3c3bc389eb20df8310f0427d1c36ab2eaaf09e346bfa7f0453fc1a18
  237392 0x0000000000000001 fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978
`);

// chunks1's data with boundaries (16 MiB, 32 MiB).
const chunks4 = parse(`
  17864181 0x001fec043c700000 4a43d4eccaa3b88514f54d3becddc6ef5e06fbb2de8161b0129888dbae4430a7
  15690251 0x0000000000000001 4ca32142da6f9130dc9a5d0df82a3c9e359cc4f1f480f4e52042ec0e8ecd3cc0
`);

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

let random: Uint8Array; // getRandom(23, 32 MiB)
let zeros: Uint8Array;

beforeAll(() => {
  random = getRandom(23, 32 * MiB);
  zeros = new Uint8Array(4 * MIN_SIZE);
});

interface VectorSet {
  name: string;
  data: () => Uint8Array;
  opts: ChunkerOptions;
  want: Expected[];
}

const sets: VectorSet[] = [
  { name: 'chunks1 (defaults)', data: () => random, opts: {}, want: chunks1 },
  { name: 'chunks2 (zeros)', data: () => zeros, opts: {}, want: chunks2 },
  { name: 'chunks3 (averageBits 19)', data: () => random, opts: { averageBits: 19 }, want: chunks3 },
  { name: 'chunks4 (16 MiB / 32 MiB)', data: () => random, opts: { minSize: 16 * MiB, maxSize: 32 * MiB }, want: chunks4 },
];

/** Checks chunks (offset, length, cut and SHA-256 of their bytes) against a vector set. */
function expectChunks(got: { offset: number; data: Uint8Array; cut: bigint }[], want: Expected[]): void {
  const summary = got.map((c) => ({ length: c.data.length, cut: c.cut, sha256: sha256(c.data) }));
  expect(summary).toEqual(want);
  let offset = 0;
  for (const c of got) {
    expect(c.offset).toBe(offset);
    offset += c.data.length;
  }
}

/** Splits data into pieces whose sizes cycle through `sizes`. */
function* pieces(data: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  for (let i = 0, k = 0; i < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - i);
    yield data.subarray(i, i + n);
    i += n;
  }
}

async function collect(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: ChunkerOptions) {
  const out = [];
  for await (const c of chunkStream(source, testPol, opts)) out.push(c);
  return out;
}

/** A reader over data that returns at most the next of `sizes` bytes per call. */
function reader(data: Uint8Array, sizes: number[]) {
  let pos = 0;
  let k = 0;
  return (buf: Uint8Array, offset: number, length: number): number => {
    const n = Math.min(length, sizes[k++ % sizes.length]!, data.length - pos);
    buf.set(data.subarray(pos, pos + n), offset);
    pos += n;
    return n;
  };
}

/** restic/chunker's Next() transcribed with BigInt and a ring window: slow, obviously right. */
function referenceChunks(data: Uint8Array, pol: bigint, opts: ChunkerOptions) {
  const { minSize = MIN_SIZE, maxSize = MAX_SIZE, averageBits = 20 } = opts;
  const out: bigint[] = [];
  const modT: bigint[] = [];
  for (let b = 0; b < 256; b++) {
    const t = tableValues(pol, b);
    out.push(t.out);
    modT.push(t.mod);
  }
  const splitmask = (1n << BigInt(averageBits)) - 1n;
  const window = new Uint8Array(64);
  let wpos = 0;
  let digest = 0n;
  const slide = (b: number) => {
    const o = window[wpos]!;
    window[wpos] = b;
    digest ^= out[o]!;
    wpos = (wpos + 1) % 64;
    const index = digest >> 45n;
    digest = ((digest << 8n) | BigInt(b)) ^ modT[Number(index)]!;
  };
  const reset = () => {
    window.fill(0);
    wpos = 0;
    digest = 0n;
    slide(1);
  };
  const chunks: { length: number; cut: bigint }[] = [];
  reset();
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    count++;
    if (count <= minSize - 64) continue; // the unhashed prefix
    slide(data[i]!);
    if (((digest & splitmask) === 0n || count >= maxSize) && count >= minSize) {
      chunks.push({ length: count, cut: digest });
      count = 0;
      reset();
    }
  }
  if (count > 0) chunks.push({ length: count, cut: digest });
  return chunks;
}

const odd = [1, 7, 100 * KiB, 3 * MiB, 63, 64, 65, 1, 1, 1, 511 * KiB + 3, 8 * MiB + 1];

describe('Go math/rand port (seed 23)', () => {
  it('gives the known Uint32 values', () => {
    const r = new GoRand(23);
    const got = Array.from({ length: 8 }, () => r.uint32().toString(16).padStart(8, '0'));
    expect(got).toEqual(['cfe58ecf', '8c735451', '38d75e1a', '0bb49b69', '5b3b6798', 'f5d87787', 'bba259cb', '06c661e6']);
  });

  it('gives the known Int63 values', () => {
    const r = new GoRand(23);
    expect([r.int63(), r.int63(), r.int63()]).toEqual([7490268378518980123n, 5060262747786418993n, 2047922926196700949n]);
  });

  it('fills getRandom little-endian', () => {
    expect(Buffer.from(random.subarray(0, 16)).toString('hex')).toBe('cf8ee5cf5154738c1a5ed738699bb40b');
    expect(sha256(random)).toBe('529617b3a6df2372a77f656f14a5baaf997dc03c1fc458d196f933fed0a46573');
  });
});

describe('chunker tables', () => {
  it('has restic’s out and mod values for testPol', () => {
    expect(tableValues(testPol, 0)).toEqual({ out: 0n, mod: 0n });
    expect(tableValues(testPol, 1)).toEqual({ out: 0x17eb4232e19216n, mod: 0x3da3358b4dc173n });
    expect(tableValues(testPol, 255)).toEqual({ out: 0xb80b98cecc39an, mod: 0x1ff7ac8a5af476a7n });
  });

  it('rejects polynomials the split digest cannot hold', () => {
    expect(() => new Chunker((1n << 54n) | 1n)).toThrow(RangeError);
    expect(() => new Chunker(0b1011n)).toThrow(RangeError);
  });
});

describe.each(sets)('$name', ({ data, opts, want }) => {
  it('chunkBuffer', () => {
    const buf = data();
    const got = chunkBuffer(buf, testPol, opts).map((c) => ({ ...c, data: buf.subarray(c.offset, c.offset + c.length) }));
    expectChunks(got, want);
  });

  it('chunkStream, odd-sized pieces', async () => {
    expectChunks(await collect(pieces(data(), odd), opts), want);
  });

  it.each([100 * KiB, 3 * MiB, 64 * MiB])('chunkStream, %i-byte pieces', async (size) => {
    expectChunks(await collect(pieces(data(), [size]), opts), want);
  });

  it('chunkReadSync, short reads', () => {
    const got = [];
    for (const c of chunkReadSync(reader(data(), odd), testPol, opts)) got.push({ ...c, data: c.data.slice() });
    expectChunks(got, want);
  });
});

describe('streaming', () => {
  it('chunkStream works with 7-byte pieces', async () => {
    expectChunks(await collect(pieces(random, [7]), {}), chunks1);
  });

  it('Chunker.next works one byte at a time', () => {
    const c = new Chunker(testPol, { averageBits: 19 });
    const cuts: { length: number; cut: bigint }[] = [];
    let length = 0;
    for (let i = 0; i < random.length; i++) {
      length++;
      if (c.next(random, i, i + 1) === i + 1) {
        cuts.push({ length, cut: c.cut });
        length = 0;
      }
    }
    expect(c.pending).toBe(length);
    expect(c.flush()).toBe(length);
    cuts.push({ length, cut: c.cut });
    expect(cuts).toEqual(chunks3.map(({ length, cut }) => ({ length, cut })));
  });

  it('chunkStream yields owned buffers even when the source reuses its buffer', async () => {
    async function* reusing(): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(300 * KiB);
      for (const p of pieces(random, [buf.length])) {
        buf.set(p);
        yield buf.subarray(0, p.length);
      }
    }
    expectChunks(await collect(reusing(), {}), chunks1);
  });

  it('chunkFileSync reads a file through its buffer', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chunker-'));
    try {
      const file = path.join(dir, 'random');
      fs.writeFileSync(file, random);
      const fd = fs.openSync(file, 'r');
      try {
        const got = [];
        const buffer = new Uint8Array(MAX_SIZE + 1);
        for (const c of chunkFileSync(fd, testPol, { buffer })) got.push({ ...c, data: c.data.slice() });
        expectChunks(got, chunks1);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Chunker', () => {
  it('yields nothing for empty input', async () => {
    expect(chunkBuffer(new Uint8Array(0), testPol)).toEqual([]);
    expect(await collect([], {})).toEqual([]);
    expect(await collect([new Uint8Array(0)], {})).toEqual([]);
    expect([...chunkReadSync(() => 0, testPol)]).toEqual([]);
    expect(new Chunker(testPol).flush()).toBe(0);
  });

  it('makes a short input one chunk cut at the reset digest', () => {
    const buf = random.subarray(0, 1000);
    expect(chunkBuffer(buf, testPol)).toEqual([{ offset: 0, length: 1000, cut: 1n }]);
  });

  it('cuts at exactly maxSize when no boundary is found', () => {
    const opts = { minSize: 64, maxSize: 1000, averageBits: 32 };
    expect(chunkBuffer(random.subarray(0, 2500), testPol, opts).map((c) => c.length)).toEqual([1000, 1000, 500]);
  });

  it('cuts at maxSize across pieces too', async () => {
    const opts = { minSize: 64, maxSize: 1000, averageBits: 32 };
    for (const size of [1, 7, 63, 64, 65, 999, 1000, 1001]) {
      const got = await collect(pieces(random.subarray(0, 10_000), [size]), opts);
      expect(got.map((c) => c.data.length)).toEqual(Array(10).fill(1000));
    }
  });

  it('matches a straightforward BigInt port of restic’s algorithm', async () => {
    const data = random.subarray(5 * MiB, 7 * MiB);
    const cases: ChunkerOptions[] = [
      { minSize: 64, maxSize: 64, averageBits: 20 },
      { minSize: 64, maxSize: 4096, averageBits: 8 },
      { minSize: 100, maxSize: 300, averageBits: 7 },
      { minSize: 1024, maxSize: 8192, averageBits: 11 },
      { minSize: 4096, maxSize: 1 << 20, averageBits: 13 },
      { minSize: 64, maxSize: 1 << 20, averageBits: 0 },
    ];
    for (const opts of cases) {
      const want = referenceChunks(data, testPol, opts);
      const got = chunkBuffer(data, testPol, opts).map(({ length, cut }) => ({ length, cut }));
      expect(got, JSON.stringify(opts)).toEqual(want);
      const streamed = (await collect(pieces(data, [1, 100, 65_536 + 3, 7]), opts)).map((c) => ({ length: c.data.length, cut: c.cut }));
      expect(streamed, JSON.stringify(opts)).toEqual(want);
    }
  });

  it('reset() restarts the stream', () => {
    const c = new Chunker(testPol);
    expect(c.next(random, 0, 2 * MiB)).toBe(-1);
    expect(c.pending).toBe(2 * MiB);
    c.reset();
    expect(c.pending).toBe(0);
    expect(c.next(random)).toBe(chunks1[0]!.length);
    expect(c.cut).toBe(chunks1[0]!.cut);
  });

  it('validates options', () => {
    expect(() => new Chunker(testPol, { minSize: 63 })).toThrow(RangeError);
    expect(() => new Chunker(testPol, { minSize: 2048, maxSize: 1024 })).toThrow(RangeError);
    expect(() => new Chunker(testPol, { averageBits: 33 })).toThrow(RangeError);
    expect(() => chunkReadSync(() => 0, testPol, { buffer: new Uint8Array(MAX_SIZE) }).next()).toThrow(RangeError);
  });

  it('cuts differently with a random polynomial (TestChunkerWithRandomPolynomial)', () => {
    const pol = randomPolynomial();
    const first = chunkBuffer(random, pol)[0]!;
    expect(first.cut).not.toBe(chunks1[0]!.cut);
    expect(first.length).not.toBe(chunks1[0]!.length);
    expect(sha256(random.subarray(0, first.length))).not.toBe(chunks1[0]!.sha256);
  });
});

afterAll(() => {
  random = zeros = new Uint8Array(0);
});
