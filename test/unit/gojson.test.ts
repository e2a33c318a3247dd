import { rng } from '../helpers/rng.js';
import { afterEach, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { formatGoTime, goTimeToDate, localOffsetMinutes, parseGoTime } from '../../src/go/time.js';
import { goIsPrint } from '../../src/go/isprint.js';
import { goJsonString } from '../../src/go/json-string.js';
import { goQuote, goUnquote } from '../../src/go/quote.js';
import { isValidUtf8 } from '../../src/go/utf8.js';
import { parseJson } from '../../src/go/json-parse.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

describe('goJsonString (go1.19 encoding/json)', () => {
  it('escapes every control character like go1.19', () => {
    const expected: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r' };
    for (let c = 0; c < 0x20; c++) {
      const want = expected[c] ?? '\\u00' + c.toString(16).padStart(2, '0');
      expect(goJsonString(String.fromCharCode(c))).toBe(`"${want}"`);
      expect(goJsonString(bytes(c))).toBe(`"${want}"`);
    }
    // go1.19 has no \b / \f short forms (Go >= 1.22 does).
    expect(goJsonString('\b\f')).toBe('"\\u0008\\u000c"');
  });

  it('leaves DEL, slash and printable ASCII alone; escapes quote, backslash and HTML', () => {
    expect(goJsonString('\x7f')).toBe('"\x7f"');
    expect(goJsonString('a/b')).toBe('"a/b"');
    expect(goJsonString('q"b\\s')).toBe('"q\\"b\\\\s"');
    expect(goJsonString('<a href="x">&</a>')).toBe('"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
    let ascii = '';
    for (let c = 0x20; c < 0x7f; c++) ascii += String.fromCharCode(c);
    expect(goJsonString(ascii)).toBe(
      '" !\\"#$%\\u0026\'()*+,-./0123456789:;\\u003c=\\u003e?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"',
    );
  });

  it('escapes U+2028/U+2029 and writes other non-ASCII raw', () => {
    expect(goJsonString('a\u2028b\u2029c')).toBe('"a\\u2028b\\u2029c"');
    expect(goJsonString('ünï 日本 \u{1F600} \ufffd \ufeff \u0085')).toBe('"ünï 日本 \u{1F600} \ufffd \ufeff \u0085"');
    expect(goJsonString(utf8('x\u2028\u{1F600}'))).toBe('"x\\u2028\u{1F600}"');
  });

  it('replaces each invalid UTF-8 byte with \\ufffd (Go DecodeRune rules)', () => {
    expect(goJsonString(utf8('bad').subarray(0, 3))).toBe('"bad"');
    expect(goJsonString(bytes(0x62, 0xff, 0xfe, 0x74))).toBe('"b\\ufffd\\ufffdt"');
    expect(goJsonString(bytes(0xc0, 0x80))).toBe('"\\ufffd\\ufffd"'); // overlong
    expect(goJsonString(bytes(0xed, 0xa0, 0x80))).toBe('"\\ufffd\\ufffd\\ufffd"'); // surrogate
    expect(goJsonString(bytes(0xf4, 0x90, 0x80, 0x80))).toBe('"\\ufffd\\ufffd\\ufffd\\ufffd"'); // > U+10FFFF
    expect(goJsonString(bytes(0xe2, 0x82, 0x41))).toBe('"\\ufffd\\ufffdA"'); // truncated
    expect(goJsonString(bytes(0xef, 0xbf, 0xbd))).toBe('"\ufffd"'); // a real U+FFFD stays raw
  });

  it('treats lone surrogates in JS strings as invalid bytes', () => {
    expect(goJsonString('a\ud800b\udc00')).toBe('"a\\ufffdb\\ufffd"');
    expect(goJsonString('\ud83d\ude00')).toBe('"\u{1F600}"');
  });

  it('gives the same text for a string and its UTF-8 bytes', () => {
    const r = rng(1);
    for (let k = 0; k < 500; k++) {
      let s = '';
      for (let j = 0; j < 12; j++) {
        const pick = r();
        const cp = pick < 0.4 ? Math.floor(r() * 0x80) : pick < 0.8 ? 0x80 + Math.floor(r() * 0x3000) : 0x10000 + Math.floor(r() * 0x20000);
        s += String.fromCodePoint(cp);
      }
      expect(goJsonString(utf8(s))).toBe(goJsonString(s));
    }
  });
});

describe('goQuote (strconv.Quote without the quotes)', () => {
  it('matches the verified restic name examples', () => {
    expect(goJsonString(goQuote(utf8('name"with\\quote')))).toBe('"name\\\\\\"with\\\\\\\\quote"');
    expect(goJsonString(goQuote(bytes(0x6e, 0x6f, 0x6e, 0xff, 0x75, 0x74, 0x66, 0x38)))).toBe('"non\\\\xffutf8"');
    expect(goJsonString(goQuote(utf8('tab\tname')))).toBe('"tab\\\\tname"');
    expect(goJsonString(goQuote(utf8('ünï<>&')))).toBe('"ünï\\u003c\\u003e\\u0026"');
  });

  it('escapes ASCII controls, DEL, quote and backslash', () => {
    const short: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
    for (let c = 0; c < 0x80; c++) {
      let want: string;
      if (short[c] !== undefined) want = short[c]!;
      else if (c < 0x20 || c === 0x7f) want = '\\x' + c.toString(16).padStart(2, '0');
      else if (c === 0x22) want = '\\"';
      else if (c === 0x5c) want = '\\\\';
      else want = String.fromCharCode(c);
      expect(goQuote(bytes(c))).toBe(want);
    }
  });

  it('writes invalid bytes as lowercase \\xHH', () => {
    for (let c = 0x80; c < 0x100; c++) expect(goQuote(bytes(c))).toBe('\\x' + c.toString(16));
    expect(goQuote(bytes(0xed, 0xa0, 0x80))).toBe('\\xed\\xa0\\x80');
    expect(goQuote(bytes(0xe2, 0x82))).toBe('\\xe2\\x82');
    expect(goQuote(bytes(0xf0, 0x9f, 0x98, 0x41))).toBe('\\xf0\\x9f\\x98A');
  });

  it('escapes non-printable runes as \\uHHHH / \\UHHHHHHHH', () => {
    const cases: [string, string][] = [
      ['\u0080', '\\u0080'],
      ['\u0085', '\\u0085'],
      ['\u00a0', '\\u00a0'],
      ['\u00ad', '\\u00ad'],
      ['\u200b', '\\u200b'],
      ['\u2028', '\\u2028'],
      ['\u3000', '\\u3000'],
      ['\ufeff', '\\ufeff'],
      ['\ue000', '\\ue000'],
      ['\uffff', '\\uffff'],
      ['\u{E0001}', '\\U000e0001'],
      ['\u{10FFFF}', '\\U0010ffff'],
    ];
    for (const [s, q] of cases) expect(goQuote(utf8(s))).toBe(q);
  });

  it('keeps printable runes raw', () => {
    for (const s of ['\u00a1', '\u00ff', 'é', '日本語', '\ufffd', '\u{1F600}', '\u{20000}', 'ﷺ']) expect(goQuote(utf8(s))).toBe(s);
  });

  it("uses go1.19 (Unicode 13) printability, not Node's newer Unicode", () => {
    // Assigned in Unicode 14+ (measured against restic 0.14.0 / go1.19.8).
    expect(goQuote(utf8('\u{1FAE0}'))).toBe('\\U0001fae0'); // melting face, Unicode 14
    expect(goQuote(utf8('\u061d'))).toBe('\\u061d');
    expect(goQuote(utf8('\u{13460}'))).toBe('\\U00013460');
    expect(goQuote(utf8('\u{31350}'))).toBe('\\U00031350');
    for (const cp of [0x870, 0x88f, 0x9ffd, 0x9fff, 0x2b735, 0x2b73f, 0x1fac3, 0x1fac6]) expect(goIsPrint(cp)).toBe(false);
    // Neighbours that Unicode 13 already had.
    for (const cp of [0x61b, 0x86a, 0x9ffc, 0x2b734, 0x1fac2, 0x1f6d7, 0x1fad6]) expect(goIsPrint(cp)).toBe(true);
  });

  it('agrees with the Latin-1 fast path of strconv.IsPrint', () => {
    for (let c = 0; c < 0x100; c++) {
      const want = (c >= 0x20 && c <= 0x7e) || (c >= 0xa1 && c !== 0xad);
      expect(goIsPrint(c)).toBe(want);
    }
  });
});

describe('goUnquote (strconv.Unquote)', () => {
  it('inverts goQuote for arbitrary bytes', () => {
    const r = rng(7);
    for (let k = 0; k < 2000; k++) {
      const len = Math.floor(r() * 24);
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = r() < 0.5 ? Math.floor(r() * 256) : 0x20 + Math.floor(r() * 0x5f);
      expect(goUnquote(goQuote(b))).toEqual(b);
    }
    const s = utf8('日本\u{1F600}\u{1FAE0}\u00a0\u2028 x');
    expect(goUnquote(goQuote(s))).toEqual(s);
  });

  it('decodes every escape form', () => {
    expect(goUnquote('\\a\\b\\f\\n\\r\\t\\v\\\\\\"')).toEqual(bytes(7, 8, 12, 10, 13, 9, 11, 0x5c, 0x22));
    expect(goUnquote('\\xff\\x00\\xAb')).toEqual(bytes(0xff, 0, 0xab));
    expect(goUnquote('\\377\\000\\101')).toEqual(bytes(0xff, 0, 0x41));
    expect(goUnquote('\\u00e9\\U0001F600')).toEqual(utf8('é\u{1F600}'));
    expect(goUnquote('plain ü')).toEqual(utf8('plain ü'));
    expect(goUnquote('')).toEqual(new Uint8Array(0));
    expect(goUnquote('tab\there')).toEqual(utf8('tab\there')); // raw controls other than \n are accepted
  });

  it('turns lone surrogates into U+FFFD bytes like Go does for invalid UTF-8', () => {
    expect(goUnquote('a\ud800')).toEqual(bytes(0x61, 0xef, 0xbf, 0xbd));
    expect(goUnquote('\\x41\udc00')).toEqual(bytes(0x41, 0xef, 0xbf, 0xbd));
  });

  it('rejects malformed input with FormatError', () => {
    for (const bad of [
      '\\',
      'a\\',
      '\\q',
      "\\'",
      '\\x1',
      '\\xzz',
      '\\u12',
      '\\ud800',
      '\\U00110000',
      '\\400',
      '\\19',
      'a"b',
      'a\nb',
      '\\8',
    ]) {
      expect(() => goUnquote(bad), bad).toThrow(FormatError);
    }
  });
});

describe('isValidUtf8', () => {
  it('follows Go utf8.Valid', () => {
    expect(isValidUtf8(utf8('ok ü 日 \u{1F600}'))).toBe(true);
    for (const b of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]])
      expect(isValidUtf8(bytes(...b))).toBe(false);
  });
});

describe('parseJson', () => {
  it('returns bigint exactly for integers beyond MAX_SAFE_INTEGER', () => {
    const v = parseJson(
      '{"a":18446744073709551615,"b":[9007199254740993,9007199254740991,9007199254740992,-9223372036854775808],"c":1.5e300,"d":1e2}',
    ) as Record<string, unknown>;
    expect(v['a']).toBe(18446744073709551615n);
    expect(v['b']).toEqual([9007199254740993n, 9007199254740991, 9007199254740992n, -9223372036854775808n]);
    expect(v['c']).toBe(1.5e300);
    expect(v['d']).toBe(100);
    expect(parseJson(' 12345678901234567890 ')).toBe(12345678901234567890n);
  });

  it('leaves digit runs inside strings alone and matches JSON.parse otherwise', () => {
    const doc =
      '{"s":"x:12345678901234567890","big":[12345678901234567890],"e":"\\u00e9\\n\\"","t":true,"f":false,"n":null,"o":{},"a":[],"neg":-0.5,"z":0}';
    const v = parseJson(doc) as Record<string, unknown>;
    const ref = JSON.parse(doc) as Record<string, unknown>;
    expect(v['big']).toEqual([12345678901234567890n]);
    for (const k of ['s', 'e', 't', 'f', 'n', 'o', 'a', 'neg', 'z']) expect(v[k]).toEqual(ref[k]);
  });

  it('keeps a "__proto__" key as data', () => {
    const v = parseJson('{"__proto__":{"x":1},"n":12345678901234567890}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'n']);
  });

  it('accepts UTF-8 bytes', () => {
    expect(parseJson(utf8('{"name":"ü","inode":18446744073709551615}\n'))).toEqual({ name: 'ü', inode: 18446744073709551615n });
  });

  it('throws FormatError on invalid JSON on both paths', () => {
    for (const bad of [
      '',
      '{',
      '{"a":1,}',
      '[1 2]',
      '{"a":12345678901234567890',
      '{"a":12345678901234567890}x',
      '{"a":"\\x"}',
      '[01234567890123456789]',
      'nul',
    ]) {
      expect(() => parseJson(bad), bad).toThrow(FormatError);
    }
  });

  it('parses a ~10 MB index-like document quickly', () => {
    const packs: string[] = [];
    let size = 0;
    const hex = (i: number) => i.toString(16).padStart(8, '0').repeat(8);
    for (let p = 0; size < 10_000_000; p++) {
      const blobs: string[] = [];
      for (let i = 0; i < 50; i++)
        blobs.push(
          `{"id":"${hex(p * 50 + i)}","type":"data","offset":${i * 100000},"length":${50000 + i},"uncompressed_length":${60000 + i}}`,
        );
      const s = `{"id":"${hex(p)}","blobs":[${blobs.join(',')}]}`;
      packs.push(s);
      size += s.length;
    }
    const text = `{"packs":[${packs.join(',')}]}\n`;
    const big = text.replace('"offset":0,', '"offset":18446744073709551615,');
    for (const [label, doc] of [
      ['native', text],
      ['bigint', big],
    ] as const) {
      const t0 = performance.now();
      const v = parseJson(doc) as { packs: { blobs: { offset: unknown }[] }[] };
      const ms = performance.now() - t0;
      console.log(`parseJson ${label} path: ${(doc.length / 1e6).toFixed(1)} MB, ${packs.length * 50} blobs in ${ms.toFixed(0)} ms`);
      expect(v.packs.length).toBe(packs.length);
      expect(ms).toBeLessThan(5000);
    }
  });
});

describe('Go time format (RFC3339Nano)', () => {
  const sec = 1700000000n; // 2023-11-14T22:13:20Z

  it('trims trailing fractional zeros and omits a zero fraction', () => {
    expect(formatGoTime(sec, 0, 0)).toBe('2023-11-14T22:13:20Z');
    expect(formatGoTime(sec, 500_000_000, 0)).toBe('2023-11-14T22:13:20.5Z');
    expect(formatGoTime(sec, 510_000_000, 0)).toBe('2023-11-14T22:13:20.51Z');
    expect(formatGoTime(sec, 1, 0)).toBe('2023-11-14T22:13:20.000000001Z');
    expect(formatGoTime(sec, 692_376_765, 0)).toBe('2023-11-14T22:13:20.692376765Z');
    expect(formatGoTime(sec, 120, 0)).toBe('2023-11-14T22:13:20.00000012Z');
  });

  it('prints the zone as Z or ±hh:mm and shifts the wall clock', () => {
    expect(formatGoTime(sec, 0, -210)).toBe('2023-11-14T18:43:20-03:30');
    expect(formatGoTime(sec, 0, 345)).toBe('2023-11-15T03:58:20+05:45');
    expect(formatGoTime(sec, 0, 60)).toBe('2023-11-14T23:13:20+01:00');
    expect(formatGoTime(sec, 0, -600)).toBe('2023-11-14T12:13:20-10:00');
    expect(formatGoTime(0n, 0, 0)).toBe('1970-01-01T00:00:00Z');
    expect(formatGoTime(-1n, 999_999_999, 0)).toBe('1969-12-31T23:59:59.999999999Z');
  });

  it('drops the seconds of LMT-style offsets from the zone but not from the clock', () => {
    // Paris before 1911: +00:09:21 — restic 0.14 writes "1900-01-01T00:09:21+00:09".
    expect(formatGoTime(-2208988800n, 0, 561 / 60)).toBe('1900-01-01T00:09:21+00:09');
    expect(formatGoTime(0n, 0, 0.5)).toBe('1970-01-01T00:00:30+00:00');
    expect(formatGoTime(0n, 0, -0.5)).toBe('1969-12-31T23:59:30+00:00');
  });

  it('clamps years outside 0…9999 like restic FixTime', () => {
    expect(formatGoTime(253402300800n, 1, 0)).toBe('9999-01-01T00:00:00.000000001Z'); // 10000-01-01
    expect(formatGoTime(253402300799n, 999_999_999, 60)).toBe('9999-01-01T00:59:59.999999999+01:00');
    expect(formatGoTime(253407484800n, 0, 0)).toBe('9999-03-01T00:00:00Z'); // 10000-02-29 has no 9999 twin
    expect(formatGoTime(-62167219200n - 1n, 0, 0)).toBe('0000-12-31T23:59:59Z'); // year -1
    expect(formatGoTime(-70000000000n, 0, 561 / 60)).toBe('0000-10-15T19:42:41+00:09'); // measured with restic 0.14
    expect(formatGoTime(300000000000n, 5, 120)).toBe('9999-08-15T07:20:00.000000005+02:00'); // measured
  });

  it('rejects an out-of-range nsec', () => {
    expect(() => formatGoTime(0n, 1e9, 0)).toThrow(RangeError);
    expect(() => formatGoTime(0n, -1, 0)).toThrow(RangeError);
  });

  it('parses what it formats', () => {
    const r = rng(3);
    for (let k = 0; k < 1000; k++) {
      const s = BigInt(Math.floor((r() - 0.5) * 2 * 1e11));
      const ns = r() < 0.3 ? 0 : Math.floor(r() * 1e9);
      const off = (Math.floor(r() * 57) - 28) * 30;
      const text = formatGoTime(s, ns, off);
      const year = Number(text.slice(0, 4));
      if (year === 0 || year === 9999) continue; // clamped
      expect(parseGoTime(text)).toEqual({ sec: s, nsec: ns, offsetMinutes: off });
    }
  });

  it('parses Go variants and rejects garbage', () => {
    expect(parseGoTime('2026-11-22T11:47:50.692376765Z')).toEqual({ sec: 1795348070n, nsec: 692376765, offsetMinutes: 0 });
    expect(parseGoTime('2020-01-01T00:00:00.1234567891234-03:30')).toEqual({ sec: 1577849400n, nsec: 123456789, offsetMinutes: -210 });
    expect(parseGoTime('2020-01-01T00:00:00,5+00:00').nsec).toBe(500000000);
    expect(parseGoTime('0001-01-01T00:00:00Z').sec).toBe(-62135596800n);
    for (const bad of [
      '2020-13-01T00:00:00Z',
      '2021-02-29T00:00:00Z',
      '2020-01-01T24:00:00Z',
      '2020-01-01 00:00:00Z',
      '2020-01-01T00:00:00',
      '20-01-01T00:00:00Z',
      '2020-01-01T00:00:00.Z',
    ]) {
      expect(() => parseGoTime(bad), bad).toThrow(FormatError);
    }
  });

  it('converts to a Date', () => {
    expect(goTimeToDate('2023-11-14T18:43:20.123456789-03:30').toISOString()).toBe('2023-11-14T22:13:20.123Z');
  });
});

describe('localOffsetMinutes', () => {
  const saved = process.env['TZ'];
  afterEach(() => {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  });

  it('follows the local zone, including DST and LMT seconds', () => {
    process.env['TZ'] = 'UTC';
    expect(localOffsetMinutes(Date.UTC(2020, 6, 1))).toBe(0);
    process.env['TZ'] = 'America/St_Johns';
    expect(localOffsetMinutes(Date.UTC(2020, 0, 1))).toBe(-210);
    expect(localOffsetMinutes(Date.UTC(2020, 6, 1))).toBe(-150);
    process.env['TZ'] = 'Europe/Paris';
    expect(localOffsetMinutes(Date.UTC(1900, 0, 1))).toBeCloseTo(561 / 60, 10);
    expect(localOffsetMinutes(Date.UTC(2020, 6, 1))).toBe(120);
    expect(localOffsetMinutes(-62167219200000 - 5)).toBeCloseTo(561 / 60, 10); // year 0 keeps LMT
    expect(Number.isFinite(localOffsetMinutes(1e300))).toBe(true);
  });
});
