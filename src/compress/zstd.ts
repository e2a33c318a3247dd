/**
 * zstd for restic v2 repositories. Node 20 has no zstd in node:zlib, so this wraps a WASM
 * build of the reference library (@bokuweb/zstd-wasm): no native addon, no install step.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Decompress as FzstdStream, decompress as fzstdDecompress } from 'fzstd';
import { FormatError } from '../errors.js';

let ready = false;
/** The package's Emscripten module, for the raw C API (set by ensureZstd()). */
let zstd!: ZstdModule;

/**
 * Instantiate the WASM build synchronously on first use instead of at import: commands
 * that never touch zstd (v1 repositories, `version`, `help`) skip it, and importers keep
 * calling the functions below synchronously. The package's own init() is asynchronous;
 * its Emscripten glue accepts an `instantiateWasm` hook, which we answer synchronously.
 */
function ensureZstd(): void {
  if (ready) return;
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@bokuweb/zstd-wasm'));
  // The package's exports map hides module.js; its own entry point requires this same file.
  const { Module } = require(path.join(dir, 'module.js')) as { Module: EmscriptenModule & ZstdModule };
  const wasm = new Wasm.Module(fs.readFileSync(path.join(dir, 'zstd.wasm')));
  Module.instantiateWasm = (imports, receive) => {
    const instance = new Wasm.Instance(wasm, imports);
    receive(instance, wasm);
    return instance.exports;
  };
  Module.init();
  if (!Module.calledRun) throw new Error('zstd: WASM runtime did not initialise');
  zstd = Module;
  ready = true;
}

// The WebAssembly global without the DOM lib's typings: just what ensureZstd() needs.
interface WasmInstance {
  exports: unknown;
}
const Wasm = (
  globalThis as unknown as {
    WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (m: object, imports: unknown) => WasmInstance };
  }
).WebAssembly;

interface EmscriptenModule {
  instantiateWasm?: (imports: unknown, receive: (i: WasmInstance, m: object) => void) => unknown;
  init(): unknown;
  calledRun?: boolean;
}

/** The raw C API of the Emscripten module (the same instance the package's functions use). */
interface ZstdModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  _ZSTD_createCCtx(): number;
  _ZSTD_compressBound(n: number): number;
  _ZSTD_isError(code: number): number;
  _ZSTD_decompress(dst: number, dstCap: number, src: number, srcSize: number): number;
  _ZSTD_compress_usingDict(
    cctx: number,
    dst: number,
    dstCap: number,
    src: number,
    srcSize: number,
    dict: number,
    dictSize: number,
    level: number,
  ): number;
}

/**
 * One compression context and one input and output buffer in the WASM heap, reused by
 * every call (per thread): ZSTD_compress would create and free a context and two buffers
 * per blob, and the package's wrapper copies the result out once more.
 */
const ctx = { cctx: 0, src: 0, srcCap: 0, dst: 0, dstCap: 0 };

function reserve(which: 'src' | 'dst', n: number): number {
  const cap = which === 'src' ? 'srcCap' : 'dstCap';
  if (ctx[cap] < n) {
    if (ctx[which]) zstd._free(ctx[which]);
    ctx[which] = 0;
    ctx[cap] = 0;
    const p = zstd._malloc(n);
    if (!p) throw new Error(`zstd: cannot allocate ${n} bytes`);
    ctx[which] = p;
    ctx[cap] = n;
  }
  return ctx[which];
}

/**
 * Compress into the reused output buffer: the frame is a view into the WASM heap, valid
 * only until the next compression on this thread. Same frame as ZSTD_compress at `level`
 * (ZSTD_compressCCtx is ZSTD_compress_usingDict without a dictionary).
 */
function compressView(data: Uint8Array, level: number): Uint8Array {
  ensureZstd();
  const src = reserve('src', Math.max(data.length, 1));
  zstd.HEAPU8.set(data, src);
  return compressInPlace(data.length, level);
}

/** Compress the first `len` bytes of the input buffer into the output buffer (a view of it). */
function compressInPlace(len: number, level: number): Uint8Array {
  ctx.cctx ||= zstd._ZSTD_createCCtx();
  const bound = zstd._ZSTD_compressBound(len);
  const dst = reserve('dst', bound);
  const n = zstd._ZSTD_compress_usingDict(ctx.cctx, dst, bound, ctx.src, len, 0, 0, level);
  if (zstd._ZSTD_isError(n)) throw new Error(`zstd compression failed with code ${n}`);
  return zstd.HEAPU8.subarray(dst, dst + n); // HEAPU8 re-read: an allocation may have grown the heap
}

/** restic's `--compression`: auto (default), off or max. */
export type CompressionMode = 'auto' | 'off' | 'max';

/**
 * zstd levels for restic's modes. auto is level 3, as restic's (klauspost's SpeedDefault):
 * level 1 ran twice as fast in WASM but left repositories 2 % larger than restic's; max is 19.
 */
const LEVEL: Record<Exclude<CompressionMode, 'off'>, number> = { auto: 3, max: 19 };

const SAMPLE_SIZE = 16 * 1024;

/** Blob bytes per sample looksCompressible takes (at least one, at most MAX_SAMPLES). */
const SAMPLE_EVERY = 256 * 1024;
const MAX_SAMPLES = 8;

/**
 * Cheap guess whether compressing `data` pays: compress 16 KiB samples spread over it.
 * Random or already-compressed data is then stored as is without a full compression pass;
 * a blob any sample of which compresses is compressed whole (a chunk can be part text, part
 * random: one sample from its middle missed those, which restic compresses).
 */
export function looksCompressible(data: Uint8Array): boolean {
  if (data.length <= 2 * SAMPLE_SIZE) return true;
  const n = Math.min(MAX_SAMPLES, Math.ceil(data.length / SAMPLE_EVERY));
  for (let k = 0; k < n; k++) {
    const at = Math.floor(((data.length - SAMPLE_SIZE) * (2 * k + 1)) / (2 * n));
    if (compressView(data.subarray(at, at + SAMPLE_SIZE), 1).length < SAMPLE_SIZE * 0.97) return true;
  }
  return false;
}

export function zstdCompress(data: Uint8Array, mode: Exclude<CompressionMode, 'off'> = 'auto'): Uint8Array {
  return compressView(data, LEVEL[mode]).slice();
}

/**
 * Compress what `write` puts straight into the compressor's input buffer (at most `bound`
 * bytes; it returns how many): big generated inputs such as index JSON then exist only
 * there. The frame is transient, as zstdCompressTransient's.
 */
export function zstdCompressWritten(
  bound: number,
  write: (dst: Uint8Array) => number,
  mode: Exclude<CompressionMode, 'off'> = 'auto',
): Uint8Array {
  ensureZstd();
  const src = reserve('src', Math.max(bound, 1));
  const len = write(zstd.HEAPU8.subarray(src, src + bound));
  if (len > bound) throw new RangeError('zstdCompressWritten: input beyond its bound');
  return compressInPlace(len, LEVEL[mode]);
}

/**
 * zstdCompress without the copy: the frame is only valid until the next zstd compression
 * on this thread (use it right away, e.g. to encrypt it into a pack).
 */
export function zstdCompressTransient(data: Uint8Array, mode: Exclude<CompressionMode, 'off'> = 'auto'): Uint8Array {
  return compressView(data, LEVEL[mode]);
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * Frame content size from a zstd frame header, or -1 when the header does not record it.
 * Read by hand so a hostile header cannot make us allocate gigabytes.
 */
function zstdFrameContentSize(frame: Uint8Array): number {
  if (frame.length < 5) throw new FormatError('zstd frame too short');
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) throw new FormatError('not a zstd frame');
  const fhd = frame[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdFlag = fhd & 3;
  const pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [1, 2, 4, 8][fcsFlag]!;
  if (fcsSize === 0) return -1;
  if (frame.length < pos + fcsSize) throw new FormatError('zstd frame header truncated');
  switch (fcsSize) {
    case 1:
      return frame[pos]!;
    case 2:
      return dv.getUint16(pos, true) + 256;
    case 4:
      return dv.getUint32(pos, true);
    default: {
      const v = dv.getBigUint64(pos, true);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
    }
  }
}

/**
 * Most output one byte of a zstd frame can yield: a block of at most 128 KiB written as RLE
 * takes a 3-byte block header and its 1 byte. A claimed size beyond this is a lie.
 */
const MAX_EXPANSION = (128 * 1024) / 4;

/** zstd's error codes (ZSTD_ErrorCode) we name; others are reported by number. */
const ZSTD_ERRORS: Record<number, string> = {
  10: 'unknown frame prefix',
  14: 'unsupported frame parameter',
  16: 'frame requires too much memory',
  20: 'corrupted data',
  22: 'checksum mismatch',
  70: 'output larger than expected',
  72: 'wrong input size',
};
const DST_TOO_SMALL = 70;

/**
 * Decompress one frame whose output may not exceed `maxSize` bytes. `expectedSize` (the
 * index's uncompressed_length) must match a size the frame records; nothing is allocated
 * for a size the frame's own length cannot produce.
 */
export function zstdDecompress(frame: Uint8Array, maxSize: number, expectedSize?: number): Uint8Array {
  ensureZstd(); // before the checks: a broken install is not a corrupt frame
  const { fcs, limit } = checkFrame(frame, maxSize, expectedSize);
  const want = fcs >= 0 ? fcs : expectedSize;
  // Without a recorded size, start small and grow: the output alone decides what we allocate.
  let cap = want ?? Math.min(limit, Math.max(1 << 20, frame.length * 8));
  for (;;) {
    const out = decompressInto(frame, cap);
    if (typeof out !== 'number') {
      if (fcs >= 0 && out.length !== fcs) throw new FormatError(`zstd frame holds ${out.length} bytes, its header says ${fcs}`);
      return out;
    }
    if (out !== DST_TOO_SMALL) throw new FormatError(`zstd decompression failed: ${ZSTD_ERRORS[out] ?? `error code ${out}`}`);
    if (want !== undefined || cap >= limit) throw new FormatError(`zstd frame decompresses to more than ${cap} bytes`);
    cap = Math.min(limit, cap * 4);
  }
}

/**
 * zstdDecompress() outside the WASM heap, for big files on a tight memory budget (index
 * files): fzstd (pure JavaScript, slower) writes into a buffer a garbage collection frees,
 * while the WASM heap would keep its high-water mark of input plus output for the life of
 * the process. Frames that do not record their size take the WASM path, which bounds them.
 */
export function zstdDecompressLean(frame: Uint8Array, maxSize: number): Uint8Array {
  const { fcs } = checkFrame(frame, maxSize);
  if (fcs < 0) return zstdDecompress(frame, maxSize);
  let out: Uint8Array;
  try {
    out = fzstdDecompress(frame, new Uint8Array(fcs));
  } catch (err) {
    throw new FormatError(`zstd decompression failed: ${(err as Error).message}`);
  }
  if (out.length !== fcs) throw new FormatError(`zstd frame holds ${out.length} bytes, its header says ${fcs}`);
  return out;
}

/** Streaming decompression holds the frame's window: beyond this, the frame is decompressed whole. */
const MAX_STREAM_WINDOW = 16 << 20;
/** Input bytes handed to the streaming decoder at a time. */
const STREAM_STEP = 64 << 10;

/**
 * Decompress a frame in pieces (fzstd's streaming decoder): `onPiece` gets the output a block
 * at a time while only the frame's window is held, so a big index file's JSON never exists
 * whole. Frames that record no size, are a single segment or have a big window are
 * decompressed whole (zstdDecompressLean) and passed as one piece.
 */
export function zstdDecompressPieces(frame: Uint8Array, maxSize: number, onPiece: (piece: Uint8Array) => void): void {
  const { fcs } = checkFrame(frame, maxSize);
  const window = frameWindow(frame);
  if (fcs < 0 || window < 0 || window > MAX_STREAM_WINDOW) {
    onPiece(zstdDecompressLean(frame, maxSize));
    return;
  }
  let total = 0;
  const stream = new FzstdStream((piece) => {
    total += piece.length;
    if (total > fcs) throw new FormatError(`zstd frame yields more than the ${fcs} bytes its header says`);
    onPiece(piece);
  });
  try {
    for (let i = 0; i < frame.length; i += STREAM_STEP) stream.push(frame.subarray(i, i + STREAM_STEP), i + STREAM_STEP >= frame.length);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`zstd decompression failed: ${(err as Error).message}`);
  }
  if (total !== fcs) throw new FormatError(`zstd frame holds ${total} bytes, its header says ${fcs}`);
}

/** The window size a frame's header declares; -1 for a single-segment frame (its window is its content). */
function frameWindow(frame: Uint8Array): number {
  const fhd = frame[4]!;
  if ((fhd >> 5) & 1 || frame.length < 6) return -1;
  const wd = frame[5]!;
  const base = 2 ** (10 + (wd >> 3));
  return base + (base / 8) * (wd & 7);
}

/**
 * The size a frame records (-1: none) and the most it may yield: refused when it claims more
 * than `maxSize` or its own length can produce, or differs from `expectedSize`.
 */
function checkFrame(frame: Uint8Array, maxSize: number, expectedSize?: number): { fcs: number; limit: number } {
  const fcs = zstdFrameContentSize(frame);
  const limit = Math.min(maxSize, frame.length * MAX_EXPANSION);
  if (fcs > limit) throw new FormatError(`zstd frame claims ${fcs} bytes, more than the allowed ${limit}`);
  if (expectedSize !== undefined && expectedSize > limit)
    throw new FormatError(`expected ${expectedSize} bytes, more than ${frame.length} compressed bytes can hold (limit ${limit})`);
  if (fcs >= 0 && expectedSize !== undefined && fcs !== expectedSize)
    throw new FormatError(`zstd frame holds ${fcs} bytes, ${expectedSize} expected`);
  return { fcs, limit };
}

/** One ZSTD_decompress call into a `cap`-byte buffer: the output (copied out), or zstd's error code. */
function decompressInto(frame: Uint8Array, cap: number): Uint8Array | number {
  const src = zstd._malloc(Math.max(frame.length, 1));
  const dst = zstd._malloc(Math.max(cap, 1));
  try {
    if (!src || !dst) throw new FormatError(`zstd: cannot allocate ${cap} bytes`);
    zstd.HEAPU8.set(frame, src);
    const n = zstd._ZSTD_decompress(dst, cap, src, frame.length);
    if (zstd._ZSTD_isError(n)) return -(n | 0); // size_t of -code in the 32-bit WASM
    return zstd.HEAPU8.slice(dst, dst + n); // HEAPU8 re-read: the heap may have grown
  } finally {
    if (dst) zstd._free(dst);
    if (src) zstd._free(src);
  }
}
