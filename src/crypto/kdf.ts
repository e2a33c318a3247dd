/**
 * scrypt key derivation (internal/crypto/kdf.go) with the parameters stored in each key
 * file. node:crypto's scrypt is native (as fast as restic's Go) and the async form runs
 * on the libuv pool. Parameters are bounded so a hostile key file cannot demand
 * gigabytes of memory or minutes of CPU before the password is even checked.
 */
import crypto from 'node:crypto';
import { KeyParamsError } from '../errors.js';
import type { MasterKey } from './crypto.js';
import { clampR } from './poly1305.js';

/** scrypt's cost parameters (N, r, p) for a key file. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

export const SALT_SIZE = 64;
/** scrypt output: 32 bytes AES key || 16 bytes MAC k || 16 bytes MAC r. */
const DK_LEN = 64;

/**
 * Memory bound: scrypt needs 128·r·(N + 2) bytes for V plus 128·r·p for B. restic's
 * calibrated keys need 32 MiB (N=32768, r=8), old ones 64 MiB (N=65536, r=8).
 */
const MAX_KDF_MEMORY = 256 * 1024 * 1024;
/**
 * Work bound on N·r·p (one unit ≈ 0.4 µs here: N=32768, r=8, p=1 takes ~100 ms).
 * restic calibrates p to ~500 ms, i.e. N·r·p ≈ 2^20–2^22 (p up to ~16 on fast machines);
 * 2^26 leaves 16× headroom and caps a hostile key at ~25 s.
 */
export const MAX_KDF_WORK = 2 ** 26;

/** Cheap, valid parameters for tests (restic's own fixtures use N=128, r=1, p=1). */
export const TEST_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ N: 1024, r: 8, p: 1 });

function scryptMemory({ N, r, p }: KdfParams): number {
  return 128 * r * (N + 2) + 128 * r * p;
}

function checkInteger(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new KeyParamsError(`invalid scrypt parameter ${name}=${v}: must be a positive integer`);
}

/**
 * simple-scrypt's Params.Check plus resource bounds. Throws KeyParamsError naming the
 * offending parameter; never starts a derivation.
 */
export function checkKdfParams(params: KdfParams): void {
  const { N, r, p } = params;
  checkInteger(N, 'N');
  checkInteger(r, 'r');
  checkInteger(p, 'p');
  // N ≤ 2^30 first: the power-of-two test below uses 32-bit bitwise operators.
  if (N < 2 || N > 2 ** 30 || (N & (N - 1)) !== 0) {
    throw new KeyParamsError(`invalid scrypt parameter N=${N}: must be a power of two between 2 and 2^30`);
  }
  if (r * p >= 2 ** 30) throw new KeyParamsError(`invalid scrypt parameters r=${r}, p=${p}: r·p must be below 2^30`);
  const mem = scryptMemory(params);
  if (mem > MAX_KDF_MEMORY) {
    // Blame whichever parameter strays furthest from restic's own (N ≤ 65536, r = 8).
    const name = p > N ? 'p' : r / 8 > N / 65536 ? 'r' : 'N';
    throw new KeyParamsError(
      `scrypt parameter ${name} too large: N=${N}, r=${r}, p=${p} would need ${Math.ceil(mem / 2 ** 20)} MiB ` +
        `(limit ${MAX_KDF_MEMORY / 2 ** 20} MiB)`,
    );
  }
  if (N * r * p > MAX_KDF_WORK) {
    throw new KeyParamsError(`scrypt parameter p too large: N=${N}, r=${r}, p=${p} demand N·r·p = ${N * r * p} (limit ${MAX_KDF_WORK})`);
  }
}

export function newSalt(): Uint8Array {
  return new Uint8Array(crypto.randomBytes(SALT_SIZE));
}

/** Raw scrypt output (64 bytes); exported for tests. */
export async function scryptKdf(password: string | Uint8Array, salt: Uint8Array, params: KdfParams): Promise<Uint8Array> {
  checkKdfParams(params);
  if (salt.length !== SALT_SIZE) throw new KeyParamsError(`invalid scrypt salt: must be ${SALT_SIZE} bytes, got ${salt.length}`);
  const { N, r, p } = params;
  // Node's default maxmem (32 MiB) is too small for restic's N=32768, r=8.
  const maxmem = scryptMemory(params) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(password, salt, DK_LEN, { N, r, p, maxmem }, (err, dk) => {
      if (err) reject(new KeyParamsError(`scrypt failed: ${err.message}`, { cause: err }));
      else resolve(new Uint8Array(dk.buffer, dk.byteOffset, dk.length));
    });
  });
}

/** restic's crypto.KDF: the user key protecting a key file's master key. */
export async function deriveKey(password: string | Uint8Array, salt: Uint8Array, params: KdfParams): Promise<MasterKey> {
  const dk = await scryptKdf(password, salt, params);
  return {
    encrypt: dk.slice(0, 32),
    mac: { k: dk.slice(32, 48), r: clampR(dk.subarray(48, 64)) },
  };
}

export interface CalibrateOptions {
  /** Target time of one derivation (restic: 500 ms). */
  targetMs?: number;
  /** Memory cap in bytes (restic: 60 MiB, giving N = 32768 at r = 8). */
  memory?: number;
}

async function timeDerivation(salt: Uint8Array, params: KdfParams): Promise<number> {
  const t0 = performance.now();
  await scryptKdf('weakpassword', salt, params);
  return Math.max(performance.now() - t0, 0.01);
}

/**
 * restic's calibration (simple-scrypt Calibrate): r = 8, N = largest power of two with
 * 128·r·N below the memory cap, N halved while one run exceeds the target, then p scaled
 * so one derivation takes about the target time. Tests should pass TEST_KDF_PARAMS
 * instead of calibrating.
 */
export async function calibrateKdf(opts: CalibrateOptions = {}): Promise<KdfParams> {
  const targetMs = opts.targetMs ?? 500;
  const memory = opts.memory ?? 60 * 1024 * 1024;
  const r = 8;
  let N = 2;
  while (128 * r * N * 2 < memory && N < 2 ** 20) N *= 2;
  const salt = newSalt();
  let t = await timeDerivation(salt, { N, r, p: 1 });
  while (t > targetMs && N > 1024) {
    N /= 2;
    t = await timeDerivation(salt, { N, r, p: 1 });
  }
  const p = Math.max(1, Math.min(Math.floor(targetMs / t), Math.floor(MAX_KDF_WORK / (N * r))));
  return { N, r, p };
}
