/**
 * Byte-exact helpers for the JSON that restic (Go 1.19 encoding/json + strconv) writes:
 * Go string quoting, strconv.Quote/Unquote, a bigint-safe JSON parser and Go's
 * RFC3339Nano time format. Tree blob IDs are hashes of this text, so every rule here
 * mirrors Go's output exactly rather than JSON.stringify's.
 */
import { FormatError } from '../errors.js';

const HEX = '0123456789abcdef';

/**
 * Length of the valid UTF-8 sequence starting at `i`, or 0 if Go's utf8.DecodeRune would
 * return (RuneError, 1) there (overlong forms, surrogates, > U+10FFFF, truncation).
 */
export function utf8SeqLen(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  if (b0 < 0x80) return 1;
  const n = b.length;
  if (b0 < 0xc2) return 0;
  if (b0 < 0xe0) return i + 1 < n && (b[i + 1]! & 0xc0) === 0x80 ? 2 : 0;
  if (b0 < 0xf0) {
    if (i + 2 >= n) return 0;
    const b1 = b[i + 1]!;
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return b1 >= lo && b1 <= hi && (b[i + 2]! & 0xc0) === 0x80 ? 3 : 0;
  }
  if (b0 < 0xf5) {
    if (i + 3 >= n) return 0;
    const b1 = b[i + 1]!;
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return b1 >= lo && b1 <= hi && (b[i + 2]! & 0xc0) === 0x80 && (b[i + 3]! & 0xc0) === 0x80 ? 4 : 0;
  }
  return 0;
}

/** True if `b` is valid UTF-8 by Go's rules (utf8.Valid). */
export function isValidUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length;) {
    if (b[i]! < 0x80) {
      i++;
      continue;
    }
    const len = utf8SeqLen(b, i);
    if (len === 0) return false;
    i += len;
  }
  return true;
}

function decodeCodePoint(b: Uint8Array, i: number, len: number): number {
  if (len === 2) return ((b[i]! & 0x1f) << 6) | (b[i + 1]! & 0x3f);
  if (len === 3) return ((b[i]! & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
  return ((b[i]! & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function asUint8Array(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------------------------------
// encoding/json string encoding (go1.19, escapeHTML = true)
// ---------------------------------------------------------------------------------------

/** Escape for an ASCII byte, or '' if Go's htmlSafeSet lets it through (0x7f included). */
const JSON_ASCII_ESCAPE: string[] = (() => {
  const t: string[] = [];
  for (let c = 0; c < 0x80; c++) {
    if (c === 0x22) t.push('\\"');
    else if (c === 0x5c) t.push('\\\\');
    else if (c === 0x0a) t.push('\\n');
    else if (c === 0x0d) t.push('\\r');
    else if (c === 0x09) t.push('\\t');
    // go1.19 has no \b or \f short forms; < > & are HTML-escaped.
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) t.push('\\u00' + HEX[c >> 4] + HEX[c & 15]);
    else t.push('');
  }
  return t;
})();

// Anything Go might not copy verbatim (surrogates: only lone ones need it, checked later).
// Non-unicode mode on purpose: it is several times faster.
const JSON_NEEDS_ESCAPE = /[\0-\x1f"\\<>&\u2028\u2029\ud800-\udfff]/;
const JSON_ASCII_SAFE_BYTES = /^[\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7f]*$/;

/**
 * The quoted JSON string Go's encoding/json writes for a Go string with these bytes.
 * A JS string stands for its UTF-8 bytes; a lone surrogate has none and is written as
 * `\ufffd`, like an invalid byte.
 */
export function goJsonString(s: string | Uint8Array): string {
  return typeof s === 'string' ? jsonStringFromText(s) : jsonStringFromBytes(s);
}

function jsonStringFromText(s: string): string {
  if (!JSON_NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let start = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let esc: string;
    if (c < 0x80) {
      esc = JSON_ASCII_ESCAPE[c]!;
      if (esc === '') continue;
    } else if (c === 0x2028 || c === 0x2029) {
      esc = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      esc = '\\ufffd';
    } else {
      continue;
    }
    out += s.slice(start, i) + esc;
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}

function jsonStringFromBytes(b: Uint8Array): string {
  const buf = asBuffer(b);
  const ascii = buf.toString('latin1');
  if (JSON_ASCII_SAFE_BYTES.test(ascii)) return '"' + ascii + '"';
  let out = '"';
  let start = 0;
  const n = b.length;
  for (let i = 0; i < n;) {
    const c = b[i]!;
    let esc: string;
    let len = 1;
    if (c < 0x80) {
      esc = JSON_ASCII_ESCAPE[c]!;
      if (esc === '') {
        i++;
        continue;
      }
    } else {
      len = utf8SeqLen(b, i);
      if (len === 0) {
        esc = '\\ufffd';
        len = 1;
      } else if (len === 3 && c === 0xe2 && b[i + 1] === 0x80 && (b[i + 2] === 0xa8 || b[i + 2] === 0xa9)) {
        esc = b[i + 2] === 0xa8 ? '\\u2028' : '\\u2029';
      } else {
        i += len;
        continue;
      }
    }
    out += buf.toString('utf8', start, i) + esc;
    i += len;
    start = i;
  }
  return out + buf.toString('utf8', start, n) + '"';
}

// ---------------------------------------------------------------------------------------
// strconv.Quote / Unquote
// ---------------------------------------------------------------------------------------

/** strconv.Quote's escape for an ASCII byte, or '' if it is copied verbatim. */
const QUOTE_ASCII_ESCAPE: string[] = (() => {
  const short: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };
  const t: string[] = [];
  for (let c = 0; c < 0x80; c++) {
    if (c === 0x22) t.push('\\"');
    else if (c === 0x5c) t.push('\\\\');
    else if (short[c] !== undefined) t.push(short[c]!);
    else if (c < 0x20 || c === 0x7f) t.push('\\x' + HEX[c >> 4] + HEX[c & 15]);
    else t.push('');
  }
  return t;
})();

const QUOTE_ASCII_SAFE_BYTES = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/*
 * unicode.IsPrint = categories L, M, N, P, S plus U+0020. Node's Unicode version may differ
 * from go1.19's Unicode 13.0: Node 20 here ships ICU with Unicode 17, so characters assigned
 * after 13.0 are removed again with NOT_PRINT_IN_GO119 (measured: names with every code
 * point U+0080…U+3FFFF and U+E0000…U+E0FFF backed up with restic 0.14.0 / go1.19.8, see
 * test/fixtures/trees/README.md). A Node with Unicode newer than 17 could still differ
 * for characters assigned after that.
 */
const PRINT_CLASS = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const printCache = new Uint8Array(0x10000); // BMP memo: 0 unknown, 1 printable, 2 not

/** [first, last] code point ranges Node calls printable that go1.19 does not. */
const NOT_PRINT_IN_GO119: ReadonlyArray<readonly [number, number]> = [
  [0x61d, 0x61d],
  [0x870, 0x88f],
  [0x897, 0x89f],
  [0x8b5, 0x8b5],
  [0x8c8, 0x8d2],
  [0xc3c, 0xc3c],
  [0xc5c, 0xc5d],
  [0xcdc, 0xcdd],
  [0xcf3, 0xcf3],
  [0xece, 0xece],
  [0x170d, 0x170d],
  [0x1715, 0x1715],
  [0x171f, 0x171f],
  [0x180f, 0x180f],
  [0x1ac1, 0x1add],
  [0x1ae0, 0x1aeb],
  [0x1b4c, 0x1b4c],
  [0x1b4e, 0x1b4f],
  [0x1b7d, 0x1b7f],
  [0x1c89, 0x1c8a],
  [0x1dfa, 0x1dfa],
  [0x20c0, 0x20c1],
  [0x2427, 0x2429],
  [0x2b96, 0x2b96],
  [0x2c2f, 0x2c2f],
  [0x2c5f, 0x2c5f],
  [0x2e53, 0x2e5d],
  [0x2ffc, 0x2fff],
  [0x31e4, 0x31e5],
  [0x31ef, 0x31ef],
  [0x9ffd, 0x9fff],
  [0xa7c0, 0xa7c1],
  [0xa7cb, 0xa7dc],
  [0xa7f1, 0xa7f4],
  [0xfbc2, 0xfbd2],
  [0xfd40, 0xfd4f],
  [0xfd90, 0xfd91],
  [0xfdc8, 0xfdcf],
  [0xfdfe, 0xfdff],
  [0x10570, 0x1057a],
  [0x1057c, 0x1058a],
  [0x1058c, 0x10592],
  [0x10594, 0x10595],
  [0x10597, 0x105a1],
  [0x105a3, 0x105b1],
  [0x105b3, 0x105b9],
  [0x105bb, 0x105bc],
  [0x105c0, 0x105f3],
  [0x10780, 0x10785],
  [0x10787, 0x107b0],
  [0x107b2, 0x107ba],
  [0x10940, 0x10959],
  [0x10d40, 0x10d65],
  [0x10d69, 0x10d85],
  [0x10d8e, 0x10d8f],
  [0x10ec2, 0x10ec7],
  [0x10ed0, 0x10ed8],
  [0x10efa, 0x10eff],
  [0x10f70, 0x10f89],
  [0x11070, 0x11075],
  [0x110c2, 0x110c2],
  [0x1123f, 0x11241],
  [0x11380, 0x11389],
  [0x1138b, 0x1138b],
  [0x1138e, 0x1138e],
  [0x11390, 0x113b5],
  [0x113b7, 0x113c0],
  [0x113c2, 0x113c2],
  [0x113c5, 0x113c5],
  [0x113c7, 0x113ca],
  [0x113cc, 0x113d5],
  [0x113d7, 0x113d8],
  [0x113e1, 0x113e2],
  [0x116b9, 0x116b9],
  [0x116d0, 0x116e3],
  [0x11740, 0x11746],
  [0x11ab0, 0x11abf],
  [0x11b00, 0x11b09],
  [0x11b60, 0x11b67],
  [0x11bc0, 0x11be1],
  [0x11bf0, 0x11bf9],
  [0x11db0, 0x11ddb],
  [0x11de0, 0x11de9],
  [0x11f00, 0x11f10],
  [0x11f12, 0x11f3a],
  [0x11f3e, 0x11f5a],
  [0x12f90, 0x12ff2],
  [0x1342f, 0x1342f],
  [0x13440, 0x13455],
  [0x13460, 0x143fa],
  [0x16100, 0x16139],
  [0x16a70, 0x16abe],
  [0x16ac0, 0x16ac9],
  [0x16d40, 0x16d79],
  [0x16ea0, 0x16eb8],
  [0x16ebb, 0x16ed3],
  [0x16ff2, 0x16ff6],
  [0x187f8, 0x187ff],
  [0x18cff, 0x18cff],
  [0x18d09, 0x18d1e],
  [0x18d80, 0x18df2],
  [0x1aff0, 0x1aff3],
  [0x1aff5, 0x1affb],
  [0x1affd, 0x1affe],
  [0x1b11f, 0x1b122],
  [0x1b132, 0x1b132],
  [0x1b155, 0x1b155],
  [0x1cc00, 0x1ccfc],
  [0x1cd00, 0x1ceb3],
  [0x1ceba, 0x1ced0],
  [0x1cee0, 0x1cef0],
  [0x1cf00, 0x1cf2d],
  [0x1cf30, 0x1cf46],
  [0x1cf50, 0x1cfc3],
  [0x1d1e9, 0x1d1ea],
  [0x1d2c0, 0x1d2d3],
  [0x1df00, 0x1df1e],
  [0x1df25, 0x1df2a],
  [0x1e030, 0x1e06d],
  [0x1e08f, 0x1e08f],
  [0x1e290, 0x1e2ae],
  [0x1e4d0, 0x1e4f9],
  [0x1e5d0, 0x1e5fa],
  [0x1e5ff, 0x1e5ff],
  [0x1e6c0, 0x1e6de],
  [0x1e6e0, 0x1e6f5],
  [0x1e6fe, 0x1e6ff],
  [0x1e7e0, 0x1e7e6],
  [0x1e7e8, 0x1e7eb],
  [0x1e7ed, 0x1e7ee],
  [0x1e7f0, 0x1e7fe],
  [0x1f6d8, 0x1f6d8],
  [0x1f6dc, 0x1f6df],
  [0x1f774, 0x1f77f],
  [0x1f7d9, 0x1f7d9],
  [0x1f7f0, 0x1f7f0],
  [0x1f8b2, 0x1f8bb],
  [0x1f8c0, 0x1f8c1],
  [0x1f8d0, 0x1f8d8],
  [0x1f979, 0x1f979],
  [0x1f9cc, 0x1f9cc],
  [0x1fa54, 0x1fa57],
  [0x1fa75, 0x1fa77],
  [0x1fa7b, 0x1fa7c],
  [0x1fa87, 0x1fa8a],
  [0x1fa8e, 0x1fa8f],
  [0x1faa9, 0x1faaf],
  [0x1fab7, 0x1fabf],
  [0x1fac3, 0x1fac6],
  [0x1fac8, 0x1fac8],
  [0x1facd, 0x1facf],
  [0x1fad7, 0x1fadc],
  [0x1fadf, 0x1faea],
  [0x1faef, 0x1faf8],
  [0x1fbcb, 0x1fbef],
  [0x1fbfa, 0x1fbfa],
  [0x2a6de, 0x2a6df],
  [0x2b735, 0x2b73f],
  [0x2cea2, 0x2cead],
  [0x2ebf0, 0x2ee5d],
  [0x31350, 0x33479],
];

function inRanges(cp: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (cp < r[0]) hi = mid - 1;
    else if (cp > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

function computeIsPrint(cp: number): boolean {
  if (cp <= 0xff) return (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa1 && cp !== 0xad);
  return PRINT_CLASS.test(String.fromCodePoint(cp)) && !inRanges(cp, NOT_PRINT_IN_GO119);
}

/** Go 1.19's strconv.IsPrint / unicode.IsPrint. */
export function goIsPrint(cp: number): boolean {
  if (cp >= 0x10000) return computeIsPrint(cp);
  let v = printCache[cp]!;
  if (v === 0) {
    v = computeIsPrint(cp) ? 1 : 2;
    printCache[cp] = v;
  }
  return v === 1;
}

function quoteRuneEscape(cp: number): string {
  if (cp < 0x10000) return '\\u' + cp.toString(16).padStart(4, '0');
  return '\\U' + cp.toString(16).padStart(8, '0');
}

/** strconv.Quote(string(bytes)) without the surrounding double quotes. */
export function goQuote(bytes: Uint8Array): string {
  const buf = asBuffer(bytes);
  const n = buf.length;
  const ascii = buf.toString('latin1');
  if (QUOTE_ASCII_SAFE_BYTES.test(ascii)) return ascii;
  let out = '';
  let start = 0;
  for (let i = 0; i < n;) {
    const c = buf[i]!;
    let esc: string;
    let len = 1;
    if (c < 0x80) {
      esc = QUOTE_ASCII_ESCAPE[c]!;
      if (esc === '') {
        i++;
        continue;
      }
    } else {
      len = utf8SeqLen(buf, i);
      if (len === 0) {
        esc = '\\x' + HEX[c >> 4] + HEX[c & 15];
        len = 1;
      } else {
        const cp = decodeCodePoint(buf, i, len);
        if (goIsPrint(cp)) {
          i += len;
          continue;
        }
        esc = quoteRuneEscape(cp);
      }
    }
    out += buf.toString('utf8', start, i) + esc;
    i += len;
    start = i;
  }
  return out + buf.toString('utf8', start, n);
}

function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

const UNQUOTE_SIMPLE: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c, '"': 0x22 };

class ByteWriter {
  buf: Uint8Array;
  len = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }
  private grow(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): void {
    this.grow(1);
    this.buf[this.len++] = b;
  }
  codePoint(cp: number): void {
    this.grow(4);
    const b = this.buf;
    if (cp < 0x80) b[this.len++] = cp;
    else if (cp < 0x800) {
      b[this.len++] = 0xc0 | (cp >> 6);
      b[this.len++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      b[this.len++] = 0xe0 | (cp >> 12);
      b[this.len++] = 0x80 | ((cp >> 6) & 0x3f);
      b[this.len++] = 0x80 | (cp & 0x3f);
    } else {
      b[this.len++] = 0xf0 | (cp >> 18);
      b[this.len++] = 0x80 | ((cp >> 12) & 0x3f);
      b[this.len++] = 0x80 | ((cp >> 6) & 0x3f);
      b[this.len++] = 0x80 | (cp & 0x3f);
    }
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function unquoteError(s: string, why: string): FormatError {
  return new FormatError(`invalid Go-quoted string ${JSON.stringify(s)}: ${why}`);
}

/**
 * strconv.Unquote(`"` + s + `"`) as raw bytes: `\xHH` and octal escapes yield single bytes
 * (possibly invalid UTF-8), `\u`/`\U` yield UTF-8. Lone surrogates in `s` become U+FFFD,
 * as Go does for invalid UTF-8 input.
 */
export function goUnquote(s: string): Uint8Array {
  if (!/["\\\n]/.test(s)) return asUint8Array(Buffer.from(s, 'utf8'));
  const w = new ByteWriter(s.length + 8);
  const n = s.length;
  for (let i = 0; i < n;) {
    const c = s.charCodeAt(i);
    if (c === 0x22) throw unquoteError(s, 'unescaped double quote');
    if (c === 0x0a) throw unquoteError(s, 'unescaped newline');
    if (c !== 0x5c) {
      const cp = s.codePointAt(i)!;
      // A lone surrogate has no UTF-8 form; Go would see invalid bytes and produce U+FFFD.
      w.codePoint(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    if (i + 1 >= n) throw unquoteError(s, 'trailing backslash');
    const e = s[i + 1]!;
    i += 2;
    const simple = UNQUOTE_SIMPLE[e];
    if (simple !== undefined) {
      w.byte(simple);
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const digits = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      if (i + digits > n) throw unquoteError(s, `short \\${e} escape`);
      let v = 0;
      for (let j = 0; j < digits; j++) {
        const x = unhex(s.charCodeAt(i + j));
        if (x < 0) throw unquoteError(s, `bad hex digit in \\${e} escape`);
        v = v * 16 + x;
      }
      i += digits;
      if (e === 'x') w.byte(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw unquoteError(s, 'escaped rune is not valid');
      else w.codePoint(v);
    } else if (e >= '0' && e <= '7') {
      let v = e.charCodeAt(0) - 0x30;
      if (i + 2 > n) throw unquoteError(s, 'short octal escape');
      for (let j = 0; j < 2; j++) {
        const x = s.charCodeAt(i + j) - 0x30;
        if (x < 0 || x > 7) throw unquoteError(s, 'bad octal digit');
        v = (v << 3) | x;
      }
      i += 2;
      if (v > 255) throw unquoteError(s, 'octal escape above \\377');
      w.byte(v);
    } else {
      throw unquoteError(s, `unknown escape \\${e}`);
    }
  }
  return w.result();
}

// ---------------------------------------------------------------------------------------
// JSON parsing with 64-bit integers
// ---------------------------------------------------------------------------------------

const utf8Decoder = new TextDecoder('utf-8');

// An integer token of 16+ digits right after a structural character: the only shape that
// can exceed Number.MAX_SAFE_INTEGER. Digits inside strings never follow [:,[] directly.
const MAYBE_BIG_INT = /[:,[]\s*-?\d{16}/;
const MAYBE_BIG_INT_DOC = /^\s*-?\d{16}/; // (separate: an ^ alternative slows the scan down)

/**
 * Like JSON.parse, but integers beyond ±Number.MAX_SAFE_INTEGER come back as bigint so
 * 64-bit inode/device numbers survive. Documents without such numbers take the native path.
 */
export function parseJson(text: string | Uint8Array): unknown {
  const s = typeof text === 'string' ? text : utf8Decoder.decode(text);
  if (!MAYBE_BIG_INT.test(s) && !MAYBE_BIG_INT_DOC.test(s)) {
    try {
      return JSON.parse(s);
    } catch (err) {
      throw new FormatError(`invalid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  return new BigIntJsonParser(s).parseDocument();
}

const WS = new Uint8Array(128);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;

class BigIntJsonParser {
  private pos = 0;
  constructor(private readonly s: string) {}

  parseDocument(): unknown {
    const v = this.value();
    this.ws();
    if (this.pos !== this.s.length) this.fail('unexpected data after JSON value');
    return v;
  }

  private fail(msg: string): never {
    throw new FormatError(`invalid JSON at offset ${this.pos}: ${msg}`);
  }

  private ws(): void {
    const s = this.s;
    let p = this.pos;
    while (p < s.length) {
      const c = s.charCodeAt(p);
      if (c >= 128 || WS[c] === 0) break;
      p++;
    }
    this.pos = p;
  }

  private value(): unknown {
    this.ws();
    const c = this.s.charCodeAt(this.pos);
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, v] of LITERALS) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail('unexpected character');
  }

  private object(): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    this.pos++;
    this.ws();
    if (this.s.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.pos) !== 0x22) this.fail('expected object key');
      const key = this.string();
      this.ws();
      if (this.s.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
      this.pos++;
      const v = this.value();
      // defineProperty: a "__proto__" key must stay data, as with JSON.parse.
      Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
      this.ws();
      const c = this.s.charCodeAt(this.pos++);
      if (c === 0x7d) return obj;
      if (c !== 0x2c) this.fail("expected ',' or '}'");
    }
  }

  private array(): unknown[] {
    const arr: unknown[] = [];
    this.pos++;
    this.ws();
    if (this.s.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return arr;
    }
    for (;;) {
      arr.push(this.value());
      this.ws();
      const c = this.s.charCodeAt(this.pos++);
      if (c === 0x5d) return arr;
      if (c !== 0x2c) this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.pos;
    let p = start + 1;
    let escaped = false;
    for (;;) {
      if (p >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(p);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        p++;
      } else if (c < 0x20) {
        this.pos = p;
        this.fail('control character in string');
      }
      p++;
    }
    this.pos = p + 1;
    if (!escaped) return s.slice(start + 1, p);
    try {
      return JSON.parse(s.slice(start, p + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail('invalid escape in string');
    }
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.s);
    if (m === null) return this.fail('invalid number');
    const tok = m[0];
    this.pos += tok.length;
    if (m[1] === undefined && m[2] === undefined && tok.length >= 16) {
      const v = Number(tok);
      if (!Number.isSafeInteger(v)) return BigInt(tok);
      return v;
    }
    return Number(tok);
  }
}

const LITERALS: ReadonlyArray<readonly [string, unknown]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

// ---------------------------------------------------------------------------------------
// Go time.Time JSON (RFC3339Nano)
// ---------------------------------------------------------------------------------------

export interface GoTime {
  /** Seconds since the Unix epoch (UTC). */
  sec: bigint;
  /** 0 … 999 999 999 */
  nsec: number;
  /** Zone offset east of UTC in minutes (fractional when the zone has seconds, e.g. LMT). */
  offsetMinutes: number;
}

/** Days since 1970-01-01 for a proleptic Gregorian date (any year). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Proleptic Gregorian (year, month, day) of a day count since 1970-01-01. */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Go's `time.Time` JSON text for an instant shown at a fixed zone offset, as restic writes
 * node times: RFC3339Nano (trailing fractional zeros trimmed), `Z` for offset 0. Years
 * outside 0…9999 are clamped like restic's FixTime (only the year changes, Feb 29 rolls to
 * Mar 1 in a non-leap year); Go would re-evaluate a named zone's offset there, we keep it.
 */
export function formatGoTime(sec: bigint, nsec: number, offsetMinutes: number): string {
  if (!Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) throw new RangeError(`nsec out of range: ${nsec}`);
  const offSec = Math.round(offsetMinutes * 60);
  const local = Number(sec) + offSec;
  const days = Math.floor(local / 86400);
  const sod = local - days * 86400;
  let [y, m, d] = civilFromDays(days);
  if (y < 0 || y > 9999) [y, m, d] = civilFromDays(daysFromCivil(y < 0 ? 0 : 9999, m, d));
  let out =
    pad(y, 4) +
    '-' +
    pad(m, 2) +
    '-' +
    pad(d, 2) +
    'T' +
    pad(Math.floor(sod / 3600), 2) +
    ':' +
    pad(Math.floor(sod / 60) % 60, 2) +
    ':' +
    pad(sod % 60, 2);
  out += nanoFraction(nsec);
  return out + formatZone(offSec);
}

/** Go's "Z07:00": hours and minutes of the offset, seconds dropped (truncated toward 0). */
function formatZone(offSec: number): string {
  if (offSec === 0) return 'Z';
  const zoneMin = Math.trunc(offSec / 60);
  const sign = zoneMin < 0 ? '-' : '+';
  const abs = Math.abs(zoneMin);
  return sign + pad(Math.floor(abs / 60), 2) + ':' + pad(abs % 60, 2);
}

// JS Date range minus two days, so the local wall clock stays representable too.
const MAX_DATE_MS = 8.64e15 - 2 * 86_400_000;

/**
 * Offset east of UTC (minutes, fractional when the zone offset has seconds) of this
 * machine's local zone at the instant, i.e. what Go's time.Local would use.
 */
export function localOffsetMinutes(epochMs: number): number {
  const ms = Math.min(MAX_DATE_MS, Math.max(-MAX_DATE_MS, Math.floor(epochMs / 1000) * 1000));
  const d = new Date(ms);
  // getTimezoneOffset() truncates LMT offsets like +00:09:21; the local fields do not.
  const wall = new Date(0);
  wall.setUTCFullYear(d.getFullYear(), d.getMonth(), d.getDate()); // (Date.UTC maps years 0…99 to 19xx)
  wall.setUTCHours(d.getHours(), d.getMinutes(), d.getSeconds(), 0);
  return (wall.getTime() - ms) / 60000;
}

/**
 * A zone offset is taken as constant over a window when it is the same at both ends: tz
 * transitions are months (at the very least days) apart, never two within one window.
 */
const OFFSET_WINDOW_SEC = 900;
const offsetCache = new Map<number, number>();
/** Whole-second text ("2006-01-02T15:04:05", zone) per epoch second; files share seconds. */
const secondCache = new Map<number, { clock: string; zone: string }>();
const CACHE_LIMIT = 1 << 14;

/** localOffsetMinutes for a whole epoch second, memoised per constant-offset window. */
function cachedLocalOffset(sec: number): number {
  const w = Math.floor(sec / OFFSET_WINDOW_SEC);
  let off = offsetCache.get(w);
  if (off !== undefined) return off;
  const start = w * OFFSET_WINDOW_SEC;
  off = localOffsetMinutes(start * 1000);
  if (localOffsetMinutes((start + OFFSET_WINDOW_SEC - 1) * 1000) !== off) return localOffsetMinutes(sec * 1000);
  if (offsetCache.size >= CACHE_LIMIT) offsetCache.clear();
  offsetCache.set(w, off);
  return off;
}

/** ".123" for nsec 123000000: RFC3339Nano's fraction, trailing zeros trimmed; '' for 0. */
function nanoFraction(nsec: number): string {
  if (nsec === 0) return '';
  const digits = String(nsec + 1_000_000_000); // "1" + nine digits
  let end = 10;
  while (digits.charCodeAt(end - 1) === 0x30) end--;
  return '.' + digits.slice(1, end);
}

/** Node time text for a stat timestamp, in the local zone (what restic 0.14 stores). */
export function formatLocalGoTime(sec: bigint, nsec: number): string {
  const s = Number(sec);
  if (!Number.isSafeInteger(s) || !Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) {
    return formatGoTime(sec, nsec, localOffsetMinutes(s * 1000));
  }
  let c = secondCache.get(s);
  if (c === undefined) {
    const offSec = Math.round(cachedLocalOffset(s) * 60);
    const whole = formatGoTime(sec, 0, offSec / 60);
    const zone = formatZone(offSec);
    c = { clock: whole.slice(0, whole.length - zone.length), zone };
    if (secondCache.size >= CACHE_LIMIT) secondCache.clear();
    secondCache.set(s, c);
  }
  return c.clock + nanoFraction(nsec) + c.zone;
}

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

/** Parses Go's RFC3339 JSON time text (what time.UnmarshalJSON accepts from restic). */
export function parseGoTime(s: string): GoTime {
  const m = GO_TIME.exec(s);
  if (m === null) throw new FormatError(`invalid time ${JSON.stringify(s)}`);
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > DAYS_IN_MONTH[mo! - 1]! || (mo === 2 && d === 29 && !isLeap(y!)))
    throw new FormatError(`invalid date in time ${JSON.stringify(s)}`);
  if (h! > 23 || mi! > 59 || se! > 59) throw new FormatError(`invalid clock in time ${JSON.stringify(s)}`);
  // Go reads at most 9 fractional digits' worth of precision; the rest is truncated.
  const nsec = m[7] === undefined ? 0 : Number(m[7].slice(0, 9).padEnd(9, '0'));
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 24 || om > 59) throw new FormatError(`invalid zone in time ${JSON.stringify(s)}`);
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = daysFromCivil(y!, mo!, d!) * 86400 + h! * 3600 + mi! * 60 + se!;
  return { sec: BigInt(local - offsetMinutes * 60), nsec, offsetMinutes };
}

/** The instant as a JS Date (millisecond precision, zone dropped). */
export function goTimeToDate(t: string | GoTime): Date {
  const g = typeof t === 'string' ? parseGoTime(t) : t;
  return new Date(Number(g.sec) * 1000 + Math.floor(g.nsec / 1e6));
}

/** Go's json.Indent with prefix "" (what json.MarshalIndent produces from compact JSON). */
export function goIndentJson(compact: string, indent = '  '): string {
  let out = '';
  let depth = 0;
  let needIndent = false;
  const newline = () => '\n' + indent.repeat(depth);
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (needIndent && c !== '}' && c !== ']') {
      needIndent = false;
      depth++;
      out += newline();
    }
    if (c === '"') {
      let j = i + 1;
      while (j < compact.length && compact[j] !== '"') j += compact[j] === '\\' ? 2 : 1;
      out += compact.slice(i, j + 1);
      i = j;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        needIndent = true;
        out += c;
        break;
      case ',':
        out += c + newline();
        break;
      case ':':
        out += ': ';
        break;
      case '}':
      case ']':
        if (needIndent) needIndent = false;
        else {
          depth--;
          out += newline();
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

/**
 * Go's fmt "%.<prec>f": correctly rounded like toFixed, except that an exact tie rounds to
 * the even digit (toFixed rounds it away from zero), e.g. 2.3125 → "2.312".
 */
export function goFixed(x: number, prec: number): string {
  const exact = x.toFixed(100); // every double's decimal expansion fits in 100 digits here
  const dot = exact.indexOf('.');
  const rest = exact.slice(dot + 1 + prec);
  if (!/^50*$/.test(rest)) return x.toFixed(prec);
  const kept = exact.slice(0, dot + 1 + prec).replace(/\.$/, '');
  const last = Number(kept[kept.length - 1]);
  return last % 2 === 0 ? kept : x.toFixed(prec);
}
