/**
 * The assembler of the chunker's WebAssembly module (see src/chunker/wasm.ts for what it
 * computes and why). A build-time tool, not shipped: its output is kept in
 * src/chunker/wasm-template.ts, because assembling in cold (interpreted) JS takes
 * milliseconds while decoding the template takes microseconds. test/unit/chunker-wasm.test.ts
 * checks that the template is this file's output; regenerate.ts rewrites it.
 */
import { DIG, LANES, MOD, OUT, PAGES, STRIDE } from '../../src/chunker/wasm.js';

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

/** Concatenation without spreads or flat() (those made assembly take milliseconds). */
function cat(...parts: (number | number[])[]): number[] {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (let i = 0; i < p.length; i++) out.push(p[i]!);
  }
  return out;
}

const vec = (items: number[][]): number[] => cat(uleb(items.length), ...items);
const section = (id: number, body: number[]): number[] => cat(id, uleb(body.length), body);
const name = (s: string): number[] =>
  cat(
    uleb(s.length),
    [...s].map((c) => c.charCodeAt(0)),
  );

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
    for (let i = 0; i < bytes.length; i++) this.code.push(bytes[i]!);
    return this;
  }

  private with(opcode: number, imm: number[]): this {
    this.code.push(opcode);
    return this.emit(...imm);
  }

  /** Where the module's shift (polynomial degree − 8) and split mask are patched in. */
  readonly sites: { kind: 'shift' | 'mask'; at: number }[] = [];

  /** i64.const shift, as a 2-byte LEB128 (padded, so any shift 0–63 patches in place). */
  shift(): this {
    this.code.push(op.i64_const);
    this.sites.push({ kind: 'shift', at: this.code.length });
    return this.emit(0x80, 0x00);
  }

  /** i32.const mask, as a 5-byte LEB128 (padded, so any int32 patches in place). */
  mask(): this {
    this.code.push(op.i32_const);
    this.sites.push({ kind: 'mask', at: this.code.length });
    return this.emit(0x80, 0x80, 0x80, 0x80, 0x00);
  }

  get = (i: number): this => this.with(op.get, uleb(i));
  set = (i: number): this => this.with(op.set, uleb(i));
  i32 = (v: number): this => this.with(op.i32_const, sleb(v));
  i64 = (v: number): this => this.with(op.i64_const, sleb(v));
  /** A load or store with its natural alignment and a constant offset. */
  mem = (opcode: number, align: number, offset: number): this => this.with(opcode, cat(uleb(align), uleb(offset)));

  /** The encoded body; `sites` positions are shifted by `headerLength` within it. */
  encode(): { bytes: number[]; headerLength: number } {
    const groups = this.locals.map((t) => [1, t]);
    const locals = vec(groups);
    const size = uleb(locals.length + this.code.length + 1);
    return { bytes: cat(size, locals, this.code, op.end), headerLength: size.length + locals.length };
  }
}

/**
 * d = ((d << 8) | mem[r + off + 64]) ^ MOD[d >> shift], preceded by d ^= OUT[mem[r + off]]
 * when `out`: restic's slide with the outgoing byte at r + off and the incoming one 64 later.
 */
function slide(f: Body, d: number, r: number, off: number, out: boolean): void {
  if (out) {
    f.get(d).get(r).mem(op.i32_load8_u, 0, off).i32(3).emit(op.i32_shl).mem(op.i64_load, 3, OUT).emit(op.i64_xor).set(d);
  }
  f.get(d).i64(8).emit(op.i64_shl);
  f.get(r)
    .mem(op.i64_load8_u, 0, off + 64)
    .emit(op.i64_or);
  f.get(d).shift().emit(op.i64_shr_u, op.i32_wrap_i64).i32(3).emit(op.i32_shl).mem(op.i64_load, 3, MOD);
  f.emit(op.i64_xor).set(d);
}

/**
 * scan(start, stride, count) → step or −1. Lane l covers bytes [start + l·stride,
 * start + l·stride + count) (count ≥ 1, even when lanes > 1); each is warmed up on the 64
 * bytes before it, then slid byte by byte. Stops at the first step where some lane's digest has (low 32 bits &
 * mask) = 0, checking lanes in order, and returns that step; −1 if none. The lane digests
 * are stored at DIG either way (lanes after the hit lane hold their previous step's).
 *
 * With `fixed`, the stride argument is ignored and lanes sit `fixed` bytes apart, so one
 * pointer with constant offsets serves all lanes (≈12 % faster than a pointer per lane).
 * The shift (polynomial degree − 8) and the mask are constants too, patched into a copy of
 * the module per pair.
 */
function scanFunction(lanes: number, fixed?: number): Body {
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
  for (let l = 0; l < lanes; l++) slide(f, d[l]!, ...ptr(l), false);
  step();
  f.get(r[0]!).get(end).emit(op.i32_lt_u, op.br_if, 0, op.end);
  // Scan.
  f.get(r[0]!).get(count).emit(op.i32_add).set(end);
  const store = () => {
    for (let l = 0; l < lanes; l++)
      f.i32(DIG + 8 * l)
        .get(d[l]!)
        .mem(op.i64_store, 3, 0);
  };
  // Multi-lane loops do two steps per iteration (V8 puts a stack check and register
  // moves in every iteration): their count must be even. Copy k's hit leaves block k.
  const unroll = lanes > 1 ? 2 : 1;
  for (let k = unroll - 1; k >= 0; k--) f.emit(op.block, VOID);
  f.emit(op.loop, VOID);
  for (let k = 0; k < unroll; k++) {
    for (let l = 0; l < lanes; l++) {
      const [p, off] = ptr(l);
      slide(f, d[l]!, p, off + k, true);
      f.get(d[l]!)
        .emit(op.i32_wrap_i64)
        .mask()
        .emit(op.i32_and, op.i32_eqz, op.br_if, 1 + k);
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
    f.get(r[0]!)
      .get(start)
      .emit(op.i32_sub)
      .i32(64 + k)
      .emit(op.i32_add);
    if (k < unroll - 1) f.emit(op.return);
  }
  return f;
}

/** warm(end): the digest of the window [end − 64, end) (hashed from zero) to DIG. */
function warmFunction(): Body {
  const endP = 0;
  const f = new Body(1);
  const r = f.local(I32);
  const d = f.local(I64);
  f.get(endP).i32(128).emit(op.i32_sub).set(r);
  f.emit(op.loop, VOID);
  slide(f, d, r, 0, false);
  f.get(r).i32(1).emit(op.i32_add).set(r);
  f.get(r).get(endP).i32(64).emit(op.i32_sub, op.i32_lt_u, op.br_if, 0, op.end);
  f.i32(DIG).get(d).mem(op.i64_store, 3, 0);
  return f;
}

/** The module with shift and mask placeholders, and where to patch them. */
export interface Template {
  bytes: Uint8Array;
  shiftSites: number[];
  maskSites: number[];
}

/**
 * Export names: scan1 and scanN (N = LANES; stride argument), blockN (STRIDE apart), warm.
 * (Fewer-lane variants are not needed: a candidate hit is followed up LANES wide.)
 */
export function assembleTemplate(): Template {
  const scanType = cat(0x60, vec([[I32], [I32], [I32]]), vec([[I32]]));
  const warmType = cat(0x60, vec([[I32]]), vec([]));
  const funcs: { name: string; type: number; body: Body }[] = [
    { name: 'scan1', type: 0, body: scanFunction(1) },
    { name: `scan${LANES}`, type: 0, body: scanFunction(LANES) },
    { name: `block${LANES}`, type: 0, body: scanFunction(LANES, STRIDE) },
    { name: 'warm', type: 1, body: warmFunction() },
  ];
  const memoryImport = cat(name('env'), name('mem'), 0x02, 0x01, uleb(PAGES), uleb(PAGES));
  const head = cat(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, vec([scanType, warmType])),
    section(2, vec([memoryImport])),
    section(3, vec(funcs.map((fn) => [fn.type]))),
    section(7, vec(funcs.map((fn, i) => cat(name(fn.name), 0x00, uleb(i))))),
  );
  // The code section comes last, so the absolute position of each site can be worked out.
  const bodies = funcs.map((fn) => fn.body.encode());
  const content = cat(uleb(funcs.length), ...bodies.map((b) => b.bytes));
  const code = section(10, content);
  const shiftSites: number[] = [];
  const maskSites: number[] = [];
  let at = head.length + (code.length - content.length) + uleb(funcs.length).length;
  funcs.forEach((fn, i) => {
    for (const site of fn.body.sites) {
      (site.kind === 'shift' ? shiftSites : maskSites).push(at + bodies[i]!.headerLength + site.at);
    }
    at += bodies[i]!.bytes.length;
  });
  return { bytes: new Uint8Array(cat(head, code)), shiftSites, maskSites };
}

/** The TypeScript of wasm-template.ts for the current assembler (see that file). */
export function templateSource(): string {
  const t = assembleTemplate();
  const b64 = Buffer.from(t.bytes).toString('base64');
  const lines = b64
    .match(/.{1,96}/g)!
    .map((l) => `  '${l}'`)
    .join(' +\n');
  return [
    '// Generated by assembleTemplate() in scripts/chunker-wasm/asm.ts; test/unit/chunker-wasm.test.ts checks it is current.',
    '// Regenerate: npx vite-node scripts/chunker-wasm/regenerate.ts',
    'export const TEMPLATE =',
    `${lines};`,
    `export const SHIFT_SITES = [${t.shiftSites.join(', ')}];`,
    `export const MASK_SITES = [${t.maskSites.join(', ')}];`,
    '',
  ].join('\n');
}
