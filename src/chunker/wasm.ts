/**
 * The chunker's scan loop as a tiny WebAssembly module, assembled here at load time (no
 * toolchain, no binary blob): 64-bit digests need no hi/lo split, and several independent
 * "lanes" run in one loop so the CPU overlaps their dependency chains.
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

export const DIG = 16;
export const OUT = 1024;
export const MOD = OUT + 2048;
export const DATA = 8192;
/** Input bytes per copy into WASM memory: large enough to amortise calls, small enough for L2. */
export const PIECE = 256 * 1024;
/** Lanes of the widest scan function (more gain nothing: x64 runs out of registers). */
export const LANES = 4;
/** Lane spacing of the block scans: LANES × STRIDE bytes per block, PIECE a multiple of it. */
export const STRIDE = PIECE / LANES;

/** Extra room after PIECE for a first piece's unhashed head. */
export const HEAD = 1024;

const PAGES = Math.ceil((DATA + PIECE + HEAD) / 65536);

// Opcodes used (WebAssembly core spec, binary format).
const I32 = 0x7f;
const I64 = 0x7e;
const op = {
  block: 0x02,
  loop: 0x03,
  br_if: 0x0d,
  end: 0x0b,
  return: 0x0f,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i64_load: 0x29,
  i32_load8_u: 0x2d,
  i64_load8_u: 0x31,
  i64_store: 0x37,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_lt_u: 0x49,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_and: 0x71,
  i32_shl: 0x74,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_u: 0x88,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_u: 0xad,
} as const;
const VOID = 0x40;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

/** Builds one function body; locals are numbered after the parameters. */
class Body {
  readonly code: number[] = [];
  private readonly locals: number[] = [];

  constructor(private readonly params: number) {}

  local(type: number): number {
    this.locals.push(type);
    return this.params + this.locals.length - 1;
  }

  emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  get = (i: number): this => this.emit(op.get, ...uleb(i));
  set = (i: number): this => this.emit(op.set, ...uleb(i));
  i32 = (v: number): this => this.emit(op.i32_const, ...sleb(v));
  i64 = (v: number): this => this.emit(op.i64_const, ...sleb(v));
  /** A load or store with its natural alignment and a constant offset. */
  mem = (opcode: number, align: number, offset: number): this => this.emit(opcode, ...uleb(align), ...uleb(offset));

  encode(): number[] {
    const groups = this.locals.map((t) => [...uleb(1), t]);
    const body = [...vec(groups), ...this.code, op.end];
    return [...uleb(body.length), ...body];
  }
}

/**
 * d = ((d << 8) | mem[r + off + 64]) ^ MOD[d >> shift], preceded by d ^= OUT[mem[r + off]]
 * when `out`: restic's slide with the outgoing byte at r + off and the incoming one 64 later.
 */
function slide(f: Body, d: number, r: number, off: number, shift: number, out: boolean): void {
  if (out) {
    f.get(d).get(r).mem(op.i32_load8_u, 0, off).i32(3).emit(op.i32_shl).mem(op.i64_load, 3, OUT).emit(op.i64_xor).set(d);
  }
  f.get(d).i64(8).emit(op.i64_shl);
  f.get(r).mem(op.i64_load8_u, 0, off + 64).emit(op.i64_or);
  f.get(d).i64(shift).emit(op.i64_shr_u, op.i32_wrap_i64).i32(3).emit(op.i32_shl).mem(op.i64_load, 3, MOD);
  f.emit(op.i64_xor).set(d);
}

/**
 * scan(start, stride, count) → step or −1. Lane l covers bytes [start + l·stride,
 * start + l·stride + count) (count ≥ 1, and even when lanes > 1); each is warmed up on the 64 bytes before it, then
 * slid byte by byte. Stops at the first step where some lane's digest has (low 32 bits &
 * mask) = 0, checking lanes in order, and returns that step; −1 if none. The lane digests
 * are stored at DIG either way (lanes after the hit lane hold their previous step's).
 *
 * With `fixed`, the stride argument is ignored and lanes sit `fixed` bytes apart, so one
 * pointer with constant offsets serves all lanes (≈12 % faster than a pointer per lane).
 * The shift (polynomial degree − 8) and the mask are constants too: one module per pair.
 */
function scanFunction(lanes: number, shift: number, mask: number, fixed?: number): Body {
  const [start, stride, count] = [0, 1, 2];
  const f = new Body(3);
  const end = f.local(I32);
  const nPointers = fixed === undefined ? lanes : 1;
  const r = Array.from({ length: nPointers }, () => f.local(I32));
  const d = Array.from({ length: lanes }, () => f.local(I64));
  const ptr = (l: number): [number, number] => (fixed === undefined ? [r[l]!, 0] : [r[0]!, l * fixed]);
  // r = lane start − 128: the incoming byte r + 64 starts 64 bytes before the lane.
  for (let l = 0; l < nPointers; l++) {
    f.get(start).get(stride).i32(l).emit(op.i32_mul, op.i32_add).i32(128).emit(op.i32_sub).set(r[l]!);
  }
  const step = () => {
    for (const p of r) f.get(p).i32(1).emit(op.i32_add).set(p);
  };
  // Warm-up: 64 slides from a zero digest (the outgoing bytes would be zeros: out[0] = 0).
  f.get(r[0]!).i32(64).emit(op.i32_add).set(end);
  f.emit(op.loop, VOID);
  for (let l = 0; l < lanes; l++) slide(f, d[l]!, ...ptr(l), shift, false);
  step();
  f.get(r[0]!).get(end).emit(op.i32_lt_u, op.br_if, 0, op.end);
  // Scan.
  f.get(r[0]!).get(count).emit(op.i32_add).set(end);
  const store = () => {
    for (let l = 0; l < lanes; l++) f.i32(DIG + 8 * l).get(d[l]!).mem(op.i64_store, 3, 0);
  };
  // Multi-lane loops do two steps per iteration (V8 puts a stack check and register
  // moves in every iteration): their count must be even. Copy k's hit leaves block k.
  const unroll = lanes > 1 ? 2 : 1;
  for (let k = unroll - 1; k >= 0; k--) f.emit(op.block, VOID);
  f.emit(op.loop, VOID);
  for (let k = 0; k < unroll; k++) {
    for (let l = 0; l < lanes; l++) {
      const [p, off] = ptr(l);
      slide(f, d[l]!, p, off + k, shift, true);
      f.get(d[l]!).emit(op.i32_wrap_i64).i32(mask).emit(op.i32_and, op.i32_eqz, op.br_if, 1 + k);
    }
  }
  for (const p of r) f.get(p).i32(unroll).emit(op.i32_add).set(p);
  f.get(r[0]!).get(end).emit(op.i32_lt_u, op.br_if, 0, op.end);
  store();
  f.i32(-1).emit(op.return);
  for (let k = 0; k < unroll; k++) {
    f.emit(op.end);
    // Hit in copy k: r[0] started the scan at start − 64.
    store();
    f.get(r[0]!).get(start).emit(op.i32_sub).i32(64 + k).emit(op.i32_add);
    if (k < unroll - 1) f.emit(op.return);
  }
  return f;
}

/** warm(end): the digest of the window [end − 64, end) (hashed from zero) to DIG. */
function warmFunction(shift: number): Body {
  const endP = 0;
  const f = new Body(1);
  const r = f.local(I32);
  const d = f.local(I64);
  f.get(endP).i32(128).emit(op.i32_sub).set(r);
  f.emit(op.loop, VOID);
  slide(f, d, r, 0, shift, false);
  f.get(r).i32(1).emit(op.i32_add).set(r);
  f.get(r).get(endP).i32(64).emit(op.i32_sub, op.i32_lt_u, op.br_if, 0, op.end);
  f.i32(DIG).get(d).mem(op.i64_store, 3, 0);
  return f;
}

/** Export names: scan1…scanN (stride argument), block1…blockN (STRIDE apart), warm. */
function assemble(shift: number, mask: number): Uint8Array {
  const scanType = [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])];
  const warmType = [0x60, ...vec([[I32]]), ...vec([])];
  const funcs: { name: string; type: number; body: Body }[] = [];
  for (let l = 1; l <= LANES; l++) funcs.push({ name: `scan${l}`, type: 0, body: scanFunction(l, shift, mask) });
  for (let l = 1; l <= LANES; l++) funcs.push({ name: `block${l}`, type: 0, body: scanFunction(l, shift, mask, STRIDE) });
  funcs.push({ name: 'warm', type: 1, body: warmFunction(shift) });
  const memoryImport = [...name('env'), ...name('mem'), 0x02, 0x01, ...uleb(PAGES), ...uleb(PAGES)];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([scanType, warmType])),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(funcs.map((fn) => [fn.type]))),
    ...section(7, vec(funcs.map((fn, i) => [...name(fn.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(funcs.map((fn) => fn.body.encode()))),
  ]);
}

// Only what this file uses: the project compiles without the DOM lib that declares these.
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

/** scan(start, stride, count) → step or −1 (see scanFunction). */
export type ScanFn = (start: number, stride: number, count: number) => number;

export interface Scanner {
  /** scan[n − 1]: n lanes `stride` apart. */
  scan: ScanFn[];
  /** block[n − 1]: n lanes STRIDE apart (stride argument ignored). */
  block: ScanFn[];
  /** Digest of the window [end − 64, end) to DIG. */
  warm: (end: number) => void;
}

const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
/** The shared memory (fixed size: views never detach). */
export const mem = new Uint8Array(memory.buffer);
/** Lane l's digest is words[DIG/4 + 2l] (low half) and words[DIG/4 + 2l + 1] (high half). */
export const words = new Int32Array(memory.buffer);

const scanners = new Map<number, Scanner>();

/** The scan functions for polynomial degree − 8 = `shift` and split mask `mask` (compiled once). */
export function scanner(shift: number, mask: number): Scanner {
  const key = shift * 2 ** 32 + (mask >>> 0);
  let s = scanners.get(key);
  if (!s) {
    const e = new WebAssembly.Instance(new WebAssembly.Module(assemble(shift, mask)), { env: { mem: memory } }).exports;
    const fns = (prefix: string) => Array.from({ length: LANES }, (_, i) => e[`${prefix}${i + 1}`] as ScanFn);
    s = { scan: fns('scan'), block: fns('block'), warm: e.warm as Scanner['warm'] };
    scanners.set(key, s);
  }
  return s;
}
