/**
 * The chunker's scan loop as a tiny WebAssembly module (assembled by the build-time tool
 * scripts/chunker-wasm/asm.ts, kept as base64 in wasm-template.ts): 64-bit digests need no
 * hi/lo split, and several independent "lanes" run in one loop so the CPU overlaps their
 * dependency chains.
 *
 * Why lanes are exact: once 64 bytes have been hashed, restic's digest is the Rabin
 * fingerprint of exactly the last 64 bytes (the reset byte and every earlier byte have been
 * slid out). So the digest at any position can be rebuilt from zero by hashing the 64
 * bytes before it ("warm-up"), and a range can be split into lanes scanned side by side;
 * the first cut is the first hit in the lowest lane that has one.
 *
 * Memory layout (one fixed-size memory, never grown, so views stay valid):
 *   DIG   4 × i64 lane digests written by every scan/warm call
 *   OUT   out table, 256 × i64 (restic's out[b])
 *   MOD   mod table, 256 × i64 (restic's mod[b])
 *   DATA−64 … DATA  the 64 bytes hashed just before DATA (the window)
 *   DATA … DATA+PIECE+HEAD  input bytes copied in
 */

import { MASK_SITES, SHIFT_SITES, TEMPLATE } from './wasm-template.js';

export const DIG = 16;
export const OUT = 1024;
export const MOD = OUT + 2048;
export const DATA = 8192;
/** Input bytes per copy into WASM memory (64 KiB measured best of 32 KiB–512 KiB: L2-resident). */
export const PIECE = 64 * 1024;
/** Lanes of the widest scan function (more gain nothing: x64 runs out of registers). */
export const LANES = 4;
/** Lane spacing of the block scans: LANES × STRIDE bytes per block, PIECE a multiple of it. */
export const STRIDE = PIECE / LANES;

/** Extra room after PIECE for a first piece's unhashed head. */
export const HEAD = 1024;

export const PAGES = Math.ceil((DATA + PIECE + HEAD) / 65536);

// Only what this file uses: the project compiles without the DOM lib that declares these.
// eslint-disable-next-line @typescript-eslint/no-namespace -- mirrors the global WebAssembly namespace
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(desc: { initial: number; maximum: number });
    readonly buffer: ArrayBuffer;
  }
}

/** scan(start, stride, count) → step or −1 (see scanFunction in scripts/chunker-wasm/asm.ts). */
export type ScanFn = (start: number, stride: number, count: number) => number;

/**
 * Base64 to bytes. Hand-written because the first Buffer.from(…, 'base64') of a process
 * costs ~3 ms (lazy initialisation), this ~0.3 ms.
 */
function fromBase64(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = new Uint8Array(128);
  for (let i = 0; i < 64; i++) value[alphabet.charCodeAt(i)] = i;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  for (let i = 0, o = 0; i < s.length; i += 4) {
    const v =
      (value[s.charCodeAt(i)]! << 18) |
      (value[s.charCodeAt(i + 1)]! << 12) |
      (value[s.charCodeAt(i + 2)]! << 6) |
      value[s.charCodeAt(i + 3)]!;
    out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}

/** Polynomial degree − 8 and split mask written into a copy of the template. */
function patch(shift: number, mask: number): Uint8Array {
  const bytes = fromBase64(TEMPLATE);
  for (const at of SHIFT_SITES) {
    bytes[at] = 0x80 | (shift & 0x7f);
    bytes[at + 1] = 0;
  }
  for (const at of MASK_SITES) {
    for (let k = 0; k < 4; k++) bytes[at + k] = 0x80 | ((mask >> (7 * k)) & 0x7f);
    bytes[at + 4] = (mask >> 28) & 0x7f;
  }
  return bytes;
}

export interface Scanner {
  /** One lane. */
  scan1: ScanFn;
  /** LANES lanes `stride` apart. */
  scan: ScanFn;
  /** LANES lanes STRIDE apart (stride argument ignored). */
  block: ScanFn;
  /** Digest of the window [end − 64, end) to DIG. */
  warm: (end: number) => void;
}

let memory: WebAssembly.Memory | undefined;
/** The shared memory, created by the first scanner() (fixed size: views never detach). */
export let mem = new Uint8Array(0);
/** Lane l's digest is words[DIG/4 + 2l] (low half) and words[DIG/4 + 2l + 1] (high half). */
export let words = new Int32Array(0);

const scanners = new Map<number, Scanner>();

/**
 * The scan functions for polynomial degree − 8 = `shift` and split mask `mask`, compiled on
 * first use (nothing WASM happens at import: commands that never chunk pay nothing).
 */
export function scanner(shift: number, mask: number): Scanner {
  const key = shift * 2 ** 32 + (mask >>> 0);
  let s = scanners.get(key);
  if (!s) {
    if (!memory) {
      memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
      mem = new Uint8Array(memory.buffer);
      words = new Int32Array(memory.buffer);
    }
    const e = new WebAssembly.Instance(new WebAssembly.Module(patch(shift, mask)), { env: { mem: memory } }).exports;
    const fn = (name: string) => e[name] as ScanFn;
    s = { scan1: fn('scan1'), scan: fn(`scan${LANES}`), block: fn(`block${LANES}`), warm: e.warm as Scanner['warm'] };
    scanners.set(key, s);
  }
  return s;
}
