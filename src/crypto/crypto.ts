/**
 * restic's authenticated encryption (internal/crypto/crypto.go):
 * IV(16 random) || AES-256-CTR(plaintext) || Poly1305-AES MAC over the ciphertext only.
 * The MAC is checked in constant time before anything is decrypted.
 */
import crypto from 'node:crypto';
import { FormatError, IntegrityError } from '../errors.js';
import { MAC_SIZE, type Poly1305Stream, clampR, equal16, poly1305Aes, poly1305AesStream } from './poly1305.js';

export interface MasterKey {
  /** AES-256 key, 32 bytes. */
  encrypt: Uint8Array;
  /** Poly1305-AES key: k (AES-128, 16 bytes) and r (16 bytes, clamped on use). */
  mac: { k: Uint8Array; r: Uint8Array };
}

const IV_SIZE = 16;
/** Bytes added by encryption. */
export const Extension = IV_SIZE + MAC_SIZE;

export const ciphertextLength = (plaintextLen: number): number => plaintextLen + Extension;
export const plaintextLength = (ciphertextLen: number): number => ciphertextLen - Extension;

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** A fresh master key; r is stored clamped, as restic 0.14 writes it. */
export function newRandomKey(): MasterKey {
  return {
    encrypt: crypto.randomBytes(32),
    mac: { k: crypto.randomBytes(16), r: clampR(crypto.randomBytes(16)) },
  };
}

/** restic's Key.Valid: encryption key, MAC k and MAC r all non-zero (and of the right size). */
export function keyIsValid(key: MasterKey): boolean {
  const { encrypt: e, mac } = key;
  return e?.length === 32 && mac?.k?.length === 16 && mac.r?.length === 16 && !isZero(e) && !isZero(mac.k) && !isZero(mac.r);
}

// Key objects already checked; the check is cheap but runs once per blob otherwise.
const validKeys = new WeakSet<MasterKey>();

function requireValidKey(key: MasterKey): void {
  if (validKeys.has(key)) return;
  if (!keyIsValid(key)) throw new IntegrityError('invalid key');
  validKeys.add(key);
}

// One randomFillSync call costs ~3 µs whatever its size, so IVs come from a 4 KiB pool of
// CSPRNG output; every IV is handed out once.
const ivPool = Buffer.allocUnsafeSlow(4096);
let ivPoolPos = ivPool.length;

function newIv(): Buffer {
  if (ivPoolPos === ivPool.length) {
    crypto.randomFillSync(ivPool);
    ivPoolPos = 0;
  }
  // A view is enough: callers use it synchronously, before the pool is refilled.
  const iv = ivPool.subarray(ivPoolPos, ivPoolPos + IV_SIZE);
  ivPoolPos += IV_SIZE;
  return iv;
}

/** Bytes per AES-CTR update() when the output is copied somewhere anyway (see encryptInto). */
export const CTR_PIECE = 16 << 10;

/**
 * Encrypt `plaintext` into `out[offset, offset + plaintext.length + 32)`, e.g. straight
 * into a pack buffer. Returns the number of bytes written.
 */
export function encryptInto(key: MasterKey, plaintext: Uint8Array, out: Uint8Array, offset = 0): number {
  requireValidKey(key);
  const total = plaintext.length + Extension;
  if (offset < 0 || offset + total > out.length) throw new RangeError('encryptInto: output buffer too small');
  const iv = newIv();
  out.set(iv, offset);
  const ctStart = offset + IV_SIZE;
  const c = crypto.createCipheriv('aes-256-ctr', key.encrypt, iv);
  // CTR is a stream mode: update() returns every byte. Small pieces, because each update()
  // allocates its output: at ≥ 64 KiB that memory comes fresh from the kernel every time
  // (page faults cost more than the AES itself); 16 KiB pieces recycle within malloc.
  for (let off = 0; off < plaintext.length; off += CTR_PIECE) {
    out.set(c.update(plaintext.subarray(off, off + CTR_PIECE)), ctStart + off);
  }
  const ct = out.subarray(ctStart, ctStart + plaintext.length);
  out.set(poly1305Aes(ct, iv, key.mac.k, key.mac.r), ctStart + plaintext.length);
  return total;
}

/**
 * encryptInto() for plaintext produced piece by piece: write iv, then each update()'s
 * ciphertext, then final()'s MAC — the same bytes as encrypt() of the concatenation,
 * without the plaintext or ciphertext ever being whole in memory.
 */
export class StreamEncryptor {
  readonly iv: Buffer;
  private readonly cipher: crypto.Cipher;
  private readonly mac: Poly1305Stream;

  constructor(key: MasterKey) {
    requireValidKey(key);
    this.iv = Buffer.from(newIv()); // newIv() is a view into a reused pool
    this.cipher = crypto.createCipheriv('aes-256-ctr', key.encrypt, this.iv);
    this.mac = poly1305AesStream(this.iv, key.mac.k, key.mac.r);
  }

  /** Ciphertext of the next piece (CTR: as long as the piece). */
  update(piece: Uint8Array): Buffer {
    const ct = this.cipher.update(piece);
    this.mac.update(ct);
    return ct;
  }

  /** The MAC over all ciphertext. */
  final(): Uint8Array {
    return this.mac.final();
  }
}

/** IV || ciphertext || MAC in a fresh buffer of ciphertextLength(plaintext.length) bytes. */
export function encrypt(key: MasterKey, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + Extension);
  encryptInto(key, plaintext, out, 0);
  return out;
}

/** Verify the MAC, then decrypt. Any failure is an IntegrityError. */
export function decrypt(key: MasterKey, data: Uint8Array): Buffer {
  const { decipher, ciphertext } = decryptStream(key, data);
  return decipher.update(ciphertext);
}

/**
 * decrypt() for readers that take the plaintext piece by piece (e.g. to hash it without
 * holding it whole): the MAC is verified first, with the same errors; feed `ciphertext`
 * (in order, in any pieces) to `decipher.update`.
 */
export function decryptStream(key: MasterKey, data: Uint8Array): { decipher: crypto.Decipher; ciphertext: Uint8Array } {
  if (data.length < Extension) {
    throw new IntegrityError(`ciphertext verification failed: ciphertext too short (${data.length} bytes)`);
  }
  requireValidKey(key);
  const iv = data.subarray(0, IV_SIZE);
  if (isZero(iv)) throw new IntegrityError('ciphertext verification failed: invalid nonce (all-zero IV)');
  const ct = data.subarray(IV_SIZE, data.length - MAC_SIZE);
  const mac = data.subarray(data.length - MAC_SIZE);
  if (!equal16(poly1305Aes(ct, iv, key.mac.k, key.mac.r), mac)) {
    throw new IntegrityError('ciphertext verification failed');
  }
  return { decipher: crypto.createDecipheriv('aes-256-ctr', key.encrypt, iv), ciphertext: ct };
}

// --- master key JSON (restic's crypto.Key with encoding/json) ---

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

/** Compact JSON exactly as restic writes it: mac{k,r} first, then encrypt; std base64. */
export function encodeMasterKey(key: MasterKey): string {
  return `{"mac":{"k":"${b64(key.mac.k)}","r":"${b64(key.mac.r)}"},"encrypt":"${b64(key.encrypt)}"}`;
}

// Go decodes []byte with base64.StdEncoding: padded, standard alphabet only.
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeField(v: unknown, len: number, what: string): Uint8Array {
  if (typeof v !== 'string' || !STD_BASE64.test(v)) throw new FormatError(`master key: ${what} is missing or not base64`);
  const b = new Uint8Array(Buffer.from(v, 'base64'));
  if (b.length !== len) throw new FormatError(`master key: ${what} must be ${len} bytes, got ${b.length}`);
  return b;
}

/** Parse and validate the master key JSON found inside a key file's `data`. */
export function decodeMasterKey(json: string): MasterKey {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    throw new FormatError('master key is not valid JSON');
  }
  if (typeof o !== 'object' || o === null) throw new FormatError('master key is not a JSON object');
  const { mac, encrypt: enc } = o as { mac?: { k?: unknown; r?: unknown } | null; encrypt?: unknown };
  const key: MasterKey = {
    encrypt: decodeField(enc, 32, 'encrypt'),
    mac: { k: decodeField(mac?.k, 16, 'mac.k'), r: decodeField(mac?.r, 16, 'mac.r') },
  };
  if (!keyIsValid(key)) throw new FormatError('master key is invalid (all-zero key)');
  return key;
}
