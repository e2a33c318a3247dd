/** strconv.Quote / Unquote on raw bytes (how restic stores non-UTF-8 file names in trees). */
import { FormatError } from '../errors.js';
import { goIsPrint } from './isprint.js';
import { asBuffer, asUint8Array, decodeCodePoint, utf8SeqLen } from './utf8.js';

const HEX = '0123456789abcdef';

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
