/**
 * restic's MAC: Poly1305-AES (Bernstein 2005). s = AES-128_k(nonce), one-time key =
 * clamp(r) || s, tag = Poly1305(msg). Poly1305 itself runs in libsodium's WASM build
 * (~1.4 GiB/s); until that has loaded, @noble/ciphers' constant-time JS Poly1305 gives the
 * same tags. Node has no raw Poly1305 API.
 */
import crypto from 'node:crypto';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import type libsodium from 'libsodium-wrappers-sumo';

type Sodium = typeof libsodium;

/** libsodium once loaded; until then poly1305Aes uses @noble/ciphers' Poly1305. */
let sodium: Sodium | null = null;
let loading: Promise<void> | null = null;

/**
 * Load libsodium's WASM Poly1305 (once). Not done at import: the module costs ~80 ms and
 * ~12 MiB, and a repository's opener can load it while scrypt runs on the thread pool.
 * Until it has loaded, MACs are computed in plain JS (same result, several times slower),
 * which is fine for key files and config but not for bulk data — so bulk users await this first.
 */
export function loadPoly1305(): Promise<void> {
  loading ??= import('libsodium-wrappers-sumo').then(async (m) => {
    await m.default.ready;
    sodium = m.default;
  });
  return loading;
}

export const MAC_SIZE = 16;

/** Poly1305 r mask, little-endian bytes (r &= 0x0ffffffc0ffffffc0ffffffc0fffffff). */
const CLAMP = new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f]);

/** restic ≥0.17 stores r unclamped, so every use clamps. Returns a new array. */
export function clampR(r: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = r[i]! & CLAMP[i]!;
  return out;
}

// Creating an ECB cipher costs ~2.5 µs, reusing one ~0.8 µs per block. Almost every MAC
// uses the master key's k, so a small cache keyed by k's bytes is enough.
const MAX_CACHED = 16;
const ecbCache = new Map<string, crypto.Cipher>();

function aes128Block(k: Uint8Array, block: Uint8Array): Buffer {
  const id = Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1');
  let c = ecbCache.get(id);
  if (c === undefined) {
    c = crypto.createCipheriv('aes-128-ecb', k, null).setAutoPadding(false);
    if (ecbCache.size >= MAX_CACHED) ecbCache.clear();
    ecbCache.set(id, c);
  }
  // ECB without padding emits each full block at once; the object stays reusable.
  return c.update(block);
}

function checkLength(b: Uint8Array, what: string): void {
  if (b.length !== 16) throw new RangeError(`poly1305-AES: ${what} must be 16 bytes, got ${b.length}`);
}

/** Poly1305-AES's one-time key: clamped r, then AES-128_k(nonce). */
function oneTimeKey(nonce: Uint8Array, k: Uint8Array, r: Uint8Array): Uint8Array {
  checkLength(nonce, 'nonce');
  checkLength(k, 'k');
  checkLength(r, 'r');
  const key = new Uint8Array(32);
  key.set(clampR(r));
  key.set(aes128Block(k, nonce), 16);
  return key;
}

/** restic's poly1305MAC(msg, nonce, {K: k, R: r}). */
export function poly1305Aes(msg: Uint8Array, nonce: Uint8Array, k: Uint8Array, r: Uint8Array): Uint8Array {
  const key = oneTimeKey(nonce, k, r);
  return sodium ? sodium.crypto_onetimeauth(msg, key) : poly1305Js(msg, key);
}

/** poly1305Aes over a message given in pieces. */
export interface Poly1305Stream {
  update(piece: Uint8Array): void;
  final(): Uint8Array;
}

/**
 * poly1305Aes() fed piece by piece: libsodium then never holds the whole message in its
 * WASM memory (which grows to the largest message ever MACed and never shrinks).
 */
export function poly1305AesStream(nonce: Uint8Array, k: Uint8Array, r: Uint8Array): Poly1305Stream {
  const key = oneTimeKey(nonce, k, r);
  const na = sodium;
  if (na) {
    const state = na.crypto_onetimeauth_init(key);
    return { update: (piece) => na.crypto_onetimeauth_update(state, piece), final: () => na.crypto_onetimeauth_final(state) };
  }
  const h = poly1305.create(key);
  return { update: (piece) => void h.update(piece), final: () => h.digest() };
}

/** Poly1305 with a 32-byte one-time key (r || s) in JavaScript (@noble/ciphers), RFC 8439 §2.5. */
export function poly1305Js(msg: Uint8Array, key: Uint8Array): Uint8Array {
  return poly1305(msg, key);
}

/** Constant-time comparison of two MACs. */
export function equal16(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === MAC_SIZE && b.length === MAC_SIZE && crypto.timingSafeEqual(a, b);
}
