/**
 * Go 1.19 encoding/json string encoding, byte-exact: HTML escaping, U+2028/2029, invalid
 * UTF-8 as \ufffd. Tree blob IDs are hashes of this text, so every rule mirrors Go's output
 * exactly rather than JSON.stringify's.
 */
import { asBuffer, utf8SeqLen } from './utf8.js';

const HEX = '0123456789abcdef';

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

/** A Go []string as encoding/json writes it (`null` for a nil slice). */
export function goJsonStrings(list: readonly string[] | null): string {
  return list === null ? 'null' : '[' + list.map((s) => goJsonString(s)).join(',') + ']';
}

/**
 * encoding/json's Marshal of a plain JS value (objects keep their key order): JSON.stringify
 * plus Go's HTML escaping of < > & and U+2028/U+2029, which only occur inside strings.
 */
export function goMarshal(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
