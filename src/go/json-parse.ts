/** JSON parsing that keeps 64-bit integers (inode and device numbers) exact. */
import { FormatError } from '../errors.js';

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

/**
 * The members of a JSON object text as [key, value text] in source order, the value text
 * exactly as written (a field unknown to us can be written back byte for byte). The text
 * must be valid JSON (parse it first); null when it is not an object.
 */
export function jsonMembers(text: string): Array<[string, string]> | null {
  let p = skipWs(text, 0);
  if (text[p] !== '{') return null;
  const out: Array<[string, string]> = [];
  p = skipWs(text, p + 1);
  while (p < text.length && text[p] !== '}') {
    const keyEnd = stringEnd(text, p);
    const key = JSON.parse(text.slice(p, keyEnd)) as string;
    p = skipWs(text, keyEnd);
    const start = skipWs(text, p + 1); // past ':'
    const end = valueEnd(text, start);
    out.push([key, text.slice(start, end).replace(/[ \t\n\r]+$/, '')]);
    p = skipWs(text, end);
    if (text[p] === ',') p = skipWs(text, p + 1);
  }
  return out;
}

function skipWs(s: string, p: number): number {
  while (p < s.length && (s[p] === ' ' || s[p] === '\t' || s[p] === '\n' || s[p] === '\r')) p++;
  return p;
}

/** Index just past the string starting at `p` (a '"'). */
function stringEnd(s: string, p: number): number {
  for (let i = p + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i + 1;
  }
  return s.length;
}

/** Index just past the value starting at `p`. */
function valueEnd(s: string, p: number): number {
  if (s[p] === '"') return stringEnd(s, p);
  let depth = 0;
  for (let i = p; i < s.length; i++) {
    const c = s[i];
    if (c === '"') i = stringEnd(s, i) - 1;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 0) return i;
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && c === ',') return i;
  }
  return s.length;
}
