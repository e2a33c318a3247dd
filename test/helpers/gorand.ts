/**
 * Go's math/rand source (the Additive Lagged Fibonacci generator behind rand.NewSource,
 * src/math/rand/rng.go), to reproduce restic/chunker's test input. The seed table is
 * Go's rngCooked (test/fixtures/go-math-rand, BSD-3-Clause, the Go Authors).
 * The 64-bit state words are kept as uint32 halves so 8 M draws stay fast.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RNG_LEN = 607;
const RNG_TAP = 273;
const INT32_MAX = 2147483647;
const MASK64 = (1n << 64n) - 1n;

function loadCooked(): bigint[] {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/go-math-rand/rng-cooked.txt');
  const values = fs
    .readFileSync(file, 'utf8')
    .split(/[\s,]+/)
    .filter((s) => /^-?\d+$/.test(s))
    .map((s) => BigInt(s));
  if (values.length !== RNG_LEN) throw new Error(`rng-cooked table has ${values.length} entries, want ${RNG_LEN}`);
  return values;
}

let cooked: bigint[] | undefined;

/** Park–Miller step used to seed the table. */
function seedrand(x: number): number {
  const hi = Math.trunc(x / 44488);
  const lo = x % 44488;
  x = 48271 * lo - 3399 * hi;
  return x < 0 ? x + INT32_MAX : x;
}

export class GoRand {
  private readonly hi = new Uint32Array(RNG_LEN);
  private readonly lo = new Uint32Array(RNG_LEN);
  private tap = 0;
  private feed = RNG_LEN - RNG_TAP;

  constructor(seed: number) {
    const table = (cooked ??= loadCooked());
    seed %= INT32_MAX;
    if (seed < 0) seed += INT32_MAX;
    if (seed === 0) seed = 89482311;
    let x = seed;
    for (let i = -20; i < RNG_LEN; i++) {
      x = seedrand(x);
      if (i < 0) continue;
      let u = BigInt(x) << 40n;
      x = seedrand(x);
      u ^= BigInt(x) << 20n;
      x = seedrand(x);
      u ^= BigInt(x);
      u = (u ^ table[i]!) & MASK64;
      this.hi[i] = Number(u >> 32n);
      this.lo[i] = Number(u & 0xffffffffn);
    }
  }

  /** Advances the generator; returns the index of the new word. */
  private step(): number {
    this.tap = this.tap === 0 ? RNG_LEN - 1 : this.tap - 1;
    this.feed = this.feed === 0 ? RNG_LEN - 1 : this.feed - 1;
    const f = this.feed;
    const t = this.tap;
    const lo = this.lo[f]! + this.lo[t]!;
    this.lo[f] = lo;
    this.hi[f] = this.hi[f]! + this.hi[t]! + (lo > 0xffffffff ? 1 : 0);
    return f;
  }

  /** rand.Int63(). */
  int63(): bigint {
    const f = this.step();
    return ((BigInt(this.hi[f]!) << 32n) | BigInt(this.lo[f]!)) & ((1n << 63n) - 1n);
  }

  /** rand.Uint32() = uint32(Int63() >> 31): bits 31–62 of the word. */
  uint32(): number {
    const f = this.step();
    return ((this.hi[f]! << 1) | (this.lo[f]! >>> 31)) >>> 0;
  }
}

/** restic/chunker's getRandom: little-endian Uint32s from rand.New(rand.NewSource(seed)). */
export function getRandom(seed: number, count: number): Uint8Array {
  const r = new GoRand(seed);
  const buf = new Uint8Array(count);
  for (let i = 0; i < count; i += 4) {
    const v = r.uint32();
    buf[i] = v;
    buf[i + 1] = v >>> 8;
    buf[i + 2] = v >>> 16;
    buf[i + 3] = v >>> 24;
  }
  return buf;
}
