/**
 * bcrypt password verification ($2a$, $2b$, $2y$), written from the published algorithm
 * (Provos & Mazières, "A Future-Adaptable Password Scheme", 1999): EksBlowfishSetup with
 * cost 2^N, then "OrpheanBeholderScryDoubt" encrypted 64 times in ECB mode.
 *
 * Blowfish's initial P-array and S-boxes are the hexadecimal digits of π's fractional part
 * (P[0] = 0x243f6a88 …), so instead of a 4 KiB constant table they are computed once with
 * BigInt arithmetic (Machin's formula) on first use, which takes a few milliseconds.
 *
 * Like Go's golang.org/x/crypto/bcrypt (which rest-server uses), the key is the password's
 * bytes followed by a NUL byte, cut to 72 bytes; the three prefixes are treated alike.
 * The expensive loop yields to the event loop now and then so a server stays responsive.
 */
import { timingSafeEqual } from 'node:crypto';

const WORDS = 18 + 4 * 256;
let PI_WORDS: Uint32Array | undefined;

/** The first 1042 32-bit words of π's fractional part. */
export function piWords(): Uint32Array {
  if (PI_WORDS) return PI_WORDS;
  const hexDigits = WORDS * 8;
  const guard = 64;
  const bits = BigInt(hexDigits * 4 + guard);
  const one = 1n << bits;
  // arctan(1/x) = Σ (-1)^k / ((2k+1) x^(2k+1))
  const arctanInv = (x: bigint): bigint => {
    let sum = 0n;
    let power = one / x;
    const x2 = x * x;
    for (let n = 1n, sign = 1n; power !== 0n; n += 2n, sign = -sign) {
      sum += (sign * power) / n;
      power /= x2;
    }
    return sum;
  };
  const pi = 16n * arctanInv(5n) - 4n * arctanInv(239n);
  const frac = (pi - 3n * one) >> BigInt(guard);
  const hex = frac.toString(16).padStart(hexDigits, '0');
  const out = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) out[i] = parseInt(hex.slice(i * 8, i * 8 + 8), 16);
  PI_WORDS = out;
  return out;
}

const ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** bcrypt's base64 (own alphabet, no padding). */
export function bcryptBase64Encode(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i += 3) {
    const b0 = data[i]!;
    const b1 = i + 1 < data.length ? data[i + 1]! : 0;
    const b2 = i + 2 < data.length ? data[i + 2]! : 0;
    out += ALPHABET[b0 >> 2]! + ALPHABET[((b0 & 3) << 4) | (b1 >> 4)]!;
    if (i + 1 < data.length) out += ALPHABET[((b1 & 15) << 2) | (b2 >> 6)]!;
    if (i + 2 < data.length) out += ALPHABET[b2 & 63]!;
  }
  return out;
}

/** Decode `n` bytes from bcrypt base64; undefined on a bad character. */
export function bcryptBase64Decode(s: string, n: number): Uint8Array | undefined {
  const out = new Uint8Array(n);
  let acc = 0;
  let accBits = 0;
  let o = 0;
  for (let i = 0; i < s.length && o < n; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    accBits += 6;
    if (accBits >= 8) {
      accBits -= 8;
      out[o++] = (acc >> accBits) & 0xff;
    }
  }
  return o === n ? out : undefined;
}

class Blowfish {
  readonly P: Uint32Array;
  readonly S: Uint32Array; // 4 × 256

  constructor() {
    const init = piWords();
    this.P = init.slice(0, 18);
    this.S = init.slice(18);
  }

  /** Encrypts lr[off], lr[off+1] in place. */
  encipher(lr: Uint32Array, off: number): void {
    const P = this.P;
    const S = this.S;
    let l = lr[off]! ^ P[0]!;
    let r = lr[off + 1]!;
    for (let i = 1; i <= 16; i += 2) {
      r ^= (((S[l >>> 24]! + S[256 | ((l >>> 16) & 0xff)]!) ^ S[512 | ((l >>> 8) & 0xff)]!) + S[768 | (l & 0xff)]!) ^ P[i]!;
      l ^= (((S[r >>> 24]! + S[256 | ((r >>> 16) & 0xff)]!) ^ S[512 | ((r >>> 8) & 0xff)]!) + S[768 | (r & 0xff)]!) ^ P[i + 1]!;
    }
    lr[off] = r ^ P[17]!;
    lr[off + 1] = l;
  }

  /** ExpandKey(state, salt, key); `salt` undefined means the all-zero salt. */
  expand(key: Uint8Array, salt?: Uint8Array): void {
    const P = this.P;
    const S = this.S;
    let kp = 0;
    for (let i = 0; i < 18; i++) {
      let w = 0;
      for (let b = 0; b < 4; b++) {
        w = (w << 8) | key[kp]!;
        kp = (kp + 1) % key.length;
      }
      P[i] = (P[i]! ^ w) >>> 0;
    }
    const lr = new Uint32Array(2);
    let sp = 0;
    const saltWord = (): number => {
      let w = 0;
      for (let b = 0; b < 4; b++) {
        w = (w << 8) | salt![sp]!;
        sp = (sp + 1) % salt!.length;
      }
      return w >>> 0;
    };
    for (let i = 0; i < 18; i += 2) {
      if (salt) {
        lr[0] = lr[0]! ^ saltWord();
        lr[1] = lr[1]! ^ saltWord();
      }
      this.encipher(lr, 0);
      P[i] = lr[0]!;
      P[i + 1] = lr[1]!;
    }
    for (let i = 0; i < 1024; i += 2) {
      if (salt) {
        lr[0] = lr[0]! ^ saltWord();
        lr[1] = lr[1]! ^ saltWord();
      }
      this.encipher(lr, 0);
      S[i] = lr[0]!;
      S[i + 1] = lr[1]!;
    }
  }
}

const MAGIC = Buffer.from('OrpheanBeholderScryDoubt', 'latin1');
const HASH_RE = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;
/** Costs above this are refused: at 2^20 rounds one check would take minutes in JavaScript. */
export const MAX_COST = 20;

/** The 23 raw hash bytes of bcrypt(cost, salt, password). */
export async function bcryptRaw(password: Uint8Array, salt: Uint8Array, cost: number, yieldEvery = 16): Promise<Uint8Array> {
  if (salt.length !== 16) throw new Error('bcrypt salt must be 16 bytes');
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new Error(`invalid bcrypt cost ${cost}`);
  const key = new Uint8Array(Math.min(password.length + 1, 72));
  key.set(password.subarray(0, key.length - (password.length + 1 > 72 ? 0 : 1)));
  const bf = new Blowfish();
  bf.expand(key, salt);
  const rounds = 2 ** cost;
  for (let i = 0; i < rounds; i++) {
    bf.expand(key);
    bf.expand(salt);
    if (yieldEvery > 0 && i % yieldEvery === yieldEvery - 1) await new Promise<void>((r) => setImmediate(r));
  }
  const ctext = new Uint32Array(6);
  for (let i = 0; i < 6; i++) ctext[i] = MAGIC.readUInt32BE(i * 4);
  for (let n = 0; n < 64; n++) for (let j = 0; j < 6; j += 2) bf.encipher(ctext, j);
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(ctext[i]!, i * 4);
  return new Uint8Array(out.subarray(0, 23));
}

/** A complete `$2b$cost$salthash` string (for tests and for writing htpasswd files). */
export async function bcryptHash(password: string, salt: Uint8Array, cost = 10, prefix: '2a' | '2b' | '2y' = '2b'): Promise<string> {
  const raw = await bcryptRaw(Buffer.from(password, 'utf8'), salt, cost);
  return `$${prefix}$${String(cost).padStart(2, '0')}$${bcryptBase64Encode(salt)}${bcryptBase64Encode(raw)}`;
}

/** Whether `hash` looks like a bcrypt hash this module can check. */
export function isBcryptHash(hash: string): boolean {
  return HASH_RE.test(hash);
}

/** Check a password against a bcrypt hash string; false for malformed hashes. */
export async function bcryptVerify(password: string, hash: string): Promise<boolean> {
  const m = HASH_RE.exec(hash);
  if (!m) return false;
  const cost = Number(m[1]);
  if (cost < 4 || cost > MAX_COST) return false;
  const salt = bcryptBase64Decode(m[2]!, 16);
  const want = bcryptBase64Decode(m[3]!, 23);
  if (!salt || !want) return false;
  const got = await bcryptRaw(Buffer.from(password, 'utf8'), salt, cost);
  return timingSafeEqual(got, want);
}
