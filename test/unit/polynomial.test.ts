/**
 * GF(2) polynomial arithmetic. Vectors from restic/chunker v0.4.0 polynomials_test.go
 * (BSD-2-Clause, Alexander Neumann and the restic authors).
 */
import { describe, it, expect } from 'vitest';
import {
  add,
  deg,
  div,
  divMod,
  expand,
  formatPolynomial,
  gcd,
  irreducible,
  mod,
  mul,
  mulMod,
  parsePolynomial,
  randomPolynomial,
} from '../../src/chunker/index.js';

const bin = (s: string): bigint => BigInt('0b' + s);

describe('polynomial arithmetic', () => {
  it('adds (polAddTests)', () => {
    const cases: [bigint, bigint, bigint][] = [
      [23n, 16n, 23n ^ 16n],
      [0x9a7e30d1e855e0a0n, 0x670102a1f4bcd414n, 0xfd7f32701ce934b4n],
      [0x9a7e30d1e855e0a0n, 0x9a7e30d1e855e0a0n, 0n],
    ];
    for (const [x, y, sum] of cases) {
      expect(add(x, y)).toBe(sum);
      expect(add(y, x)).toBe(sum);
    }
  });

  it('multiplies (polMulTests)', () => {
    const cases: [bigint, bigint, bigint][] = [
      [1n, 2n, 2n],
      [bin('1101'), bin('10'), bin('11010')],
      [bin('1101'), bin('11'), bin('10111')],
      [0x40000000n, 0x40000000n, 0x1000000000000000n],
      [bin('1010'), bin('100100'), bin('101101000')],
      [bin('100'), bin('11'), bin('1100')],
      [bin('11'), bin('110101'), bin('1011111')],
      [bin('10011'), bin('110101'), bin('1100001111')],
    ];
    for (const [x, y, res] of cases) {
      expect(mul(x, y)).toBe(res);
      expect(mul(y, x)).toBe(res);
    }
    expect(mul(0n, 0x1234n)).toBe(0n);
  });

  it('divides (polDivTests)', () => {
    const cases: [bigint, bigint, bigint][] = [
      [10n, 50n, 0n],
      [0n, 1n, 0n],
      [bin('101101000'), bin('1010'), bin('100100')],
      [2n, 2n, 1n],
      [0x8000000000000000n, 0x8000000000000000n, 1n],
      [bin('1100'), bin('100'), bin('11')],
      [bin('1100001111'), bin('10011'), bin('110101')],
    ];
    for (const [x, y, res] of cases) expect(div(x, y)).toBe(res);
    expect(() => divMod(5n, 0n)).toThrow(RangeError);
  });

  it('reduces (polModTests)', () => {
    const cases: [bigint, bigint, bigint][] = [
      [10n, 50n, 10n],
      [0n, 1n, 0n],
      [bin('101101001'), bin('1010'), bin('1')],
      [2n, 2n, 0n],
      [0x8000000000000000n, 0x8000000000000000n, 0n],
      [bin('1100'), bin('100'), bin('0')],
      [bin('1100001111'), bin('10011'), bin('0')],
    ];
    for (const [x, y, res] of cases) expect(mod(x, y)).toBe(res);
  });

  it('divMod satisfies x = q·d + r with deg r < deg d', () => {
    const x = 0x3af4b284899n;
    const d = 0x2482734cacca49n;
    expect(divMod(d, x)).toEqual([div(d, x), mod(d, x)]);
    const [q, r] = divMod(d, x);
    expect(add(mul(q, x), r)).toBe(d);
    expect(deg(r)).toBeLessThan(deg(x));
  });

  it('computes degrees', () => {
    expect(deg(0n)).toBe(-1);
    expect(deg(1n)).toBe(0);
    for (let i = 0; i < 64; i++) expect(deg(1n << BigInt(i))).toBe(i);
    expect(deg(0x3af4b284899n)).toBe(41);
    expect(deg((1n << 64n) - 1n)).toBe(63);
  });

  it('computes GCDs (polGCDTests)', () => {
    const cases: [bigint, bigint, bigint][] = [
      [10n, 50n, 2n],
      [0n, 1n, 1n],
      [bin('101101001'), bin('1010'), bin('1')],
      [2n, 2n, 2n],
      [bin('1010'), bin('11'), bin('11')],
      [0x8000000000000000n, 0x8000000000000000n, 0x8000000000000000n],
      [bin('1100'), bin('101'), bin('11')],
      [bin('1100001111'), bin('10011'), bin('10011')],
      [0x3da3358b4dc173n, 0x3da3358b4dc173n, 0x3da3358b4dc173n],
      [0x3da3358b4dc173n, 0x230d2259defdn, 1n],
      [0x230d2259defdn, 0x51b492b3eff2n, bin('10011')],
    ];
    for (const [f1, f2, res] of cases) {
      expect(gcd(f1, f2)).toBe(res);
      expect(gcd(f2, f1)).toBe(res);
    }
  });

  it('multiplies modulo (polMulModTests)', () => {
    expect(mulMod(0x1230n, 0x230n, 0x55n)).toBe(0x22n);
    expect(mulMod(0x0eae8c07dbbb3026n, 0xd5d6db9de04771den, 0xdd2bda3b77c9n)).toBe(0x425ae8595b7an);
    expect(mulMod(0n, 5n, 7n)).toBe(0n);
  });

  it('expands (TestExpandPolynomial)', () => {
    expect(expand(0x3da3358b4dc173n)).toBe(
      'x^53+x^52+x^51+x^50+x^48+x^47+x^45+x^41+x^40+x^37+x^36+x^34+x^32+x^31+x^27+x^25+x^24+x^22+x^19+x^18+x^16+x^15+x^14+x^8+x^6+x^5+x^4+x+1',
    );
    expect(expand(0n)).toBe('0');
    expect(expand(2n)).toBe('x');
    expect(expand(1n)).toBe('1');
  });
});

describe('irreducibility (polIrredTests)', () => {
  const cases: [bigint, boolean][] = [
    [0x38f1e565e288dfn, false],
    [0x3da3358b4dc173n, true],
    [0x30a8295b9d5c91n, false],
    [0x255f4350b962cbn, false],
    [0x267f776110a235n, false],
    [0x2f4dae10d41227n, false],
    [0x2482734cacca49n, true],
    [0x312daf4b284899n, false],
    [0x29dfb6553d01d1n, false],
    [0x3548245eb26257n, false],
    [0x3199e7ef4211b3n, false],
    [0x362f39017dae8bn, false],
    [0x200d57aa6fdacbn, false],
    [0x35e0a4efa1d275n, false],
    [0x2ced55b026577fn, false],
    [0x260b012010893dn, false],
    [0x2df29cbcd59e9dn, false],
    [0x3f2ac7488bd429n, false],
    [0x3e5cb1711669fbn, false],
    [0x226d8de57a9959n, false],
    [0x3c8de80aaf5835n, false],
    [0x2026a59efb219bn, false],
    [0x39dfa4d13fb231n, false],
    [0x3143d0464b3299n, false],
  ];
  it.each(cases)('%s → %s', (f, want) => {
    expect(irreducible(f)).toBe(want);
  });

  it('agrees with small known cases', () => {
    expect(irreducible(0b111n)).toBe(true); // x^2+x+1
    expect(irreducible(0b101n)).toBe(false); // (x+1)^2
    expect(irreducible(0b1011n)).toBe(true); // x^3+x+1
    expect(irreducible(0b1111n)).toBe(false); // (x+1)(x^2+x+1)
  });
});

describe('randomPolynomial', () => {
  it('returns an irreducible polynomial of degree 53', () => {
    const p = randomPolynomial();
    expect(deg(p)).toBe(53);
    expect(p & 1n).toBe(1n);
    expect(irreducible(p)).toBe(true);
  });

  it('reads 8 bytes little-endian, masks to 54 bits and sets bits 53 and 0', () => {
    // 0x3da3358b4dc173 with its bit 0 cleared and junk above bit 53, little-endian.
    const raw = (0xffc0000000000000n | 0x3da3358b4dc172n).toString(16).padStart(16, '0');
    const bytes = Uint8Array.from(Buffer.from(raw, 'hex').reverse());
    let calls = 0;
    const p = randomPolynomial((n) => {
      calls++;
      expect(n).toBe(8);
      return bytes;
    });
    expect(p).toBe(0x3da3358b4dc173n);
    expect(calls).toBe(1);
  });

  it('skips reducible candidates', () => {
    const candidates = [0x38f1e565e288dfn, 0x30a8295b9d5c91n, 0x2482734cacca49n];
    let i = 0;
    const p = randomPolynomial(() => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, candidates[i++]!, true);
      return b;
    });
    expect(p).toBe(0x2482734cacca49n);
    expect(i).toBe(3);
  });
});

describe('config form', () => {
  it('formats as lowercase hex without prefix', () => {
    expect(formatPolynomial(0x3da3358b4dc173n)).toBe('3da3358b4dc173');
    expect(formatPolynomial(0x24575a7bf45525n)).toBe('24575a7bf45525');
    expect(() => formatPolynomial(-1n)).toThrow(RangeError);
    expect(() => formatPolynomial(1n << 64n)).toThrow(RangeError);
  });

  it('parses like strconv.ParseUint(s, 16, 64)', () => {
    expect(parsePolynomial('3da3358b4dc173')).toBe(0x3da3358b4dc173n);
    expect(parsePolynomial('3DA3358B4DC173')).toBe(0x3da3358b4dc173n);
    expect(parsePolynomial('ffffffffffffffff')).toBe((1n << 64n) - 1n);
    for (const bad of ['', '0x3da3', ' 3da3', '3da3\n', '-1', '+1', '3_da3', 'g', '10000000000000000']) {
      expect(() => parsePolynomial(bad), bad).toThrow(RangeError);
    }
  });
});
