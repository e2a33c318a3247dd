/**
 * Polynomials over GF(2) as restic/chunker's `Pol` (a uint64, bit i = coefficient of x^i),
 * held in a bigint. Used only to pick and check polynomials and to build the chunker's
 * tables, never per byte.
 */
import { randomBytes } from 'node:crypto';

const UINT64_MAX = (1n << 64n) - 1n;

/** Degree of p; −1 for the zero polynomial. */
export function deg(p: bigint): number {
  if (p <= 0n) return p === 0n ? -1 : negative();
  // Bit length via the float exponent where exact, else via hex digits.
  if (p <= 0xffffffffn) return 31 - Math.clz32(Number(p));
  const hex = p.toString(16);
  return (hex.length - 1) * 4 + (31 - Math.clz32(parseInt(hex[0]!, 16)));
}

function negative(): never {
  throw new RangeError('polynomial must not be negative');
}

/** x + y (XOR: GF(2) has no carries). */
export function add(x: bigint, y: bigint): bigint {
  return x ^ y;
}

/** Carry-less product x·y (unbounded: restic's uint64 overflow panic does not apply). */
export function mul(x: bigint, y: bigint): bigint {
  let r = 0n;
  for (let s = 0n; y !== 0n; s++, y >>= 1n) if (y & 1n) r ^= x << s;
  return r;
}

/** Quotient and remainder of x / d by schoolbook long division. */
export function divMod(x: bigint, d: bigint): [q: bigint, r: bigint] {
  const dd = deg(d);
  if (dd < 0) throw new RangeError('division by zero polynomial');
  let q = 0n;
  for (let diff = deg(x) - dd; diff >= 0; diff = deg(x) - dd) {
    q |= 1n << BigInt(diff);
    x ^= d << BigInt(diff);
  }
  return [q, x];
}

export function div(x: bigint, d: bigint): bigint {
  return divMod(x, d)[0];
}

export function mod(x: bigint, d: bigint): bigint {
  return divMod(x, d)[1];
}

/** x·f mod g. */
export function mulMod(x: bigint, f: bigint, g: bigint): bigint {
  return mod(mul(x, f), g);
}

/** Greatest common divisor (Euclid); gcd(x, 0) = x. */
export function gcd(x: bigint, f: bigint): bigint {
  while (f !== 0n) [x, f] = [f, mod(x, f)];
  return x;
}

/** (X^(2^p) − X) mod g, for Ben-Or's test. */
function qp(p: number, g: bigint): bigint {
  let r = 2n; // X
  for (let i = 0; i < p; i++) r = mulMod(r, r, g);
  return mod(r ^ 2n, g);
}

/**
 * Ben-Or's irreducibility test, exactly as restic/chunker's `Irreducible` (so, like
 * restic, it answers true for polynomials of degree < 2, whose loop is empty).
 */
export function irreducible(p: bigint): boolean {
  const half = Math.floor(deg(p) / 2);
  for (let i = 1; i <= half; i++) if (gcd(p, qp(i, p)) !== 1n) return false;
  return true;
}

/** Tries restic allows itself before giving up on finding an irreducible polynomial. */
const RANDOM_POLYNOMIAL_TRIES = 1_000_000;

/**
 * A random irreducible polynomial of degree 53, drawn like restic's `RandomPolynomial`:
 * 8 random bytes little-endian, masked to 54 bits, bits 53 and 0 set.
 */
export function randomPolynomial(random: (n: number) => Uint8Array = randomBytes): bigint {
  for (let i = 0; i < RANDOM_POLYNOMIAL_TRIES; i++) {
    const b = random(8);
    let f = 0n;
    for (let j = 7; j >= 0; j--) f = (f << 8n) | BigInt(b[j]!);
    f &= (1n << 54n) - 1n;
    f |= (1n << 53n) | 1n;
    if (irreducible(f)) return f;
  }
  throw new Error('unable to find new random irreducible polynomial');
}

/** The polynomial as restic's config stores it: lowercase hex, no 0x (`strconv.FormatUint(p, 16)`). */
export function formatPolynomial(p: bigint): string {
  if (p < 0n || p > UINT64_MAX) throw new RangeError('polynomial does not fit in 64 bits');
  return p.toString(16);
}

/** Parses the config form (`strconv.ParseUint(s, 16, 64)`: hex digits of either case, no prefix). */
export function parsePolynomial(s: string): bigint {
  if (!/^[0-9a-fA-F]+$/.test(s)) throw new RangeError(`invalid chunker polynomial ${JSON.stringify(s)}`);
  const p = BigInt('0x' + s);
  if (p > UINT64_MAX) throw new RangeError(`chunker polynomial ${JSON.stringify(s)} does not fit in 64 bits`);
  return p;
}

/** Human-readable form as restic's `Expand`, e.g. "x^3+x+1". */
export function expand(p: bigint): string {
  if (p === 0n) return '0';
  const terms: string[] = [];
  for (let i = deg(p); i >= 0; i--) {
    if (((p >> BigInt(i)) & 1n) === 0n) continue;
    terms.push(i === 0 ? '1' : i === 1 ? 'x' : `x^${i}`);
  }
  return terms.join('+');
}
