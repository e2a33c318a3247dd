/**
 * Path patterns as restic 0.14's `find` matches them (internal/filter.Match and
 * ChildMatch): the pattern is cleaned and split at '/', each component is matched with
 * Go's filepath.Match, `**` spans any number of components, and a pattern that does not
 * start with '/' may match at any depth (so `*.txt` matches a base name anywhere).
 * Patterns and paths are byte strings (see bytestring.ts); `?` and `[...]` consume one
 * UTF-8 character, or one byte where the bytes are not valid UTF-8, as in Go.
 */
import { UsageError } from '../errors.js';
import { type ByteString, bstrFromText, cleanPath } from './bytestring.js';

export class BadPatternError extends UsageError {
  constructor(pattern: string) {
    super(`Match: syntax error in pattern ${JSON.stringify(pattern)}`);
  }
}

const RUNE_ERROR = 0xfffd;

/** Go's utf8.DecodeRuneInString on a byte string: [rune, width]; invalid → [0xFFFD, 1]. */
function decodeRune(s: ByteString, i: number): [number, number] {
  const b0 = s.charCodeAt(i);
  if (b0 < 0x80) return [b0, 1];
  const cont = (k: number) => {
    const c = s.charCodeAt(i + k);
    return c >= 0x80 && c <= 0xbf ? c & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    if (c1 >= 0) return [((b0 & 0x1f) << 6) | c1, 2];
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      const r = ((b0 & 0x0f) << 12) | (c1 << 6) | c2;
      if (r >= 0x800 && (r < 0xd800 || r > 0xdfff)) return [r, 3];
    }
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      const r = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (r >= 0x10000 && r <= 0x10ffff) return [r, 4];
    }
  }
  return [RUNE_ERROR, 1];
}

function scanChunk(pattern: ByteString): { star: boolean; chunk: ByteString; rest: ByteString } {
  let star = false;
  while (pattern.length > 0 && pattern[0] === '*') {
    pattern = pattern.slice(1);
    star = true;
  }
  let inrange = false;
  let i = 0;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case '\\':
        if (i + 1 < pattern.length) i++;
        break;
      case '[':
        inrange = true;
        break;
      case ']':
        inrange = false;
        break;
      case '*':
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunk: pattern.slice(0, i), rest: pattern.slice(i) };
}

/** Returns [lo, remaining chunk]; throws 'bad' on a malformed class. */
function getEsc(chunk: ByteString): [number, ByteString] {
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw BAD;
  if (chunk[0] === '\\') {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw BAD;
  }
  const [r, n] = decodeRune(chunk, 0);
  if (r === RUNE_ERROR && n === 1) throw BAD;
  const next = chunk.slice(n);
  if (next.length === 0) throw BAD;
  return [r, next];
}

const BAD = Symbol('bad pattern');

/** Go's matchChunk: the rest of `s` after matching `chunk` at its start, or null. */
function matchChunk(chunk: ByteString, s: ByteString): ByteString | null {
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case '[': {
        let r = 0;
        if (!failed) {
          const [rr, n] = decodeRune(s, 0);
          r = rr;
          s = s.slice(n);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === '^') {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
            chunk = chunk.slice(1);
            break;
          }
          let lo: number;
          let hi: number;
          [lo, chunk] = getEsc(chunk);
          hi = lo;
          if (chunk[0] === '-') [hi, chunk] = getEsc(chunk.slice(1));
          if (lo <= r && r <= hi) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] === '/') failed = true;
          s = s.slice(decodeRune(s, 0)[1]);
        }
        chunk = chunk.slice(1);
        break;
      default:
        if (chunk[0] === '\\') {
          chunk = chunk.slice(1);
          if (chunk.length === 0) throw BAD;
        }
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? null : s;
}

function globMatch(pattern: ByteString, name: ByteString): boolean {
  outer: while (pattern.length > 0) {
    const { star, chunk, rest } = scanChunk(pattern);
    pattern = rest;
    if (star && chunk === '') return !name.includes('/');
    const t = matchChunk(chunk, name);
    if (t !== null && (t.length === 0 || pattern.length > 0)) {
      name = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < name.length && name[i] !== '/'; i++) {
        const t2 = matchChunk(chunk, name.slice(i + 1));
        if (t2 !== null) {
          if (pattern.length === 0 && t2.length > 0) continue;
          name = t2;
          continue outer;
        }
      }
    }
    // Before failing, check that the rest of the pattern is well-formed.
    while (pattern.length > 0) {
      const next = scanChunk(pattern);
      pattern = next.rest;
      matchChunk(next.chunk, '');
    }
    return false;
  }
  return name.length === 0;
}

/**
 * Go's filepath.Match on byte strings (Unix rules: '\\' escapes, '*' and '?' do not
 * match '/'). Throws BadPatternError for a malformed pattern.
 */
export function goFilepathMatch(pattern: ByteString, name: ByteString): boolean {
  try {
    return globMatch(pattern, name);
  } catch (err) {
    if (err === BAD) throw new BadPatternError(Buffer.from(pattern, 'latin1').toString());
    throw err;
  }
}

interface Part {
  /** "/" marks an absolute pattern's root; "" stands for "**". */
  pattern: ByteString;
  isSimple: boolean;
}

/** A prepared restic filter pattern. */
export interface FilterPattern {
  original: ByteString;
  parts: Part[];
  negated: boolean;
}

function splitPath(p: ByteString): ByteString[] {
  const parts = p.split('/');
  if (parts[0] === '') parts[0] = '/';
  return parts;
}

/** restic's preparePattern; `pattern` is a byte string (use bstrFromText for argv). */
export function prepareFilterPattern(pattern: ByteString): FilterPattern {
  let s = pattern;
  let negated = false;
  if (s[0] === '!') {
    negated = true;
    s = s.slice(1);
  }
  const parts = splitPath(cleanPath(s)).map((part) => ({
    pattern: part === '**' ? '' : part,
    isSimple: !/[\\[\]*?]/.test(part),
  }));
  return { original: pattern, parts, negated };
}

function doubleWildcard(parts: Part[]): number {
  return parts.findIndex((p) => p.pattern === '');
}

function matchParts(parts: Part[], strs: ByteString[]): boolean {
  const pos = doubleWildcard(parts);
  if (pos >= 0) {
    // Expand '**' into 0, 1, 2, … single-component wildcards.
    const prefix = parts.slice(0, pos);
    const suffix = parts.slice(pos + 1);
    for (let i = 0; i <= strs.length - parts.length + 1; i++) {
      const stars: Part[] = Array.from({ length: i }, () => ({ pattern: '*', isSimple: false }));
      if (matchParts([...prefix, ...stars, ...suffix], strs)) return true;
    }
    return false;
  }
  if (parts.length === 0) return strs.length === 0;
  if (parts.length > strs.length) return false;
  let minOffset = 0;
  let maxOffset = strs.length - parts.length;
  if (parts[0]!.pattern === '/') maxOffset = 0;
  else if (strs[0] === '/') minOffset = 1;
  outer: for (let offset = maxOffset; offset >= minOffset; offset--) {
    for (let i = parts.length - 1; i >= 0; i--) {
      const part = parts[i]!;
      const str = strs[offset + i]!;
      const ok = part.isSimple ? part.pattern === str : goFilepathMatch(part.pattern, str);
      if (!ok) continue outer;
    }
    return true;
  }
  return false;
}

function prepareStr(str: ByteString): ByteString[] {
  if (str === '') throw new UsageError('filter.Match: string is empty');
  return splitPath(str);
}

/** restic's filter.Match: whether `path` (a byte string) matches the pattern. */
export function filterMatch(pattern: FilterPattern | ByteString, path: ByteString): boolean {
  if (pattern === '') return true;
  const p = typeof pattern === 'string' ? prepareFilterPattern(pattern) : pattern;
  return matchParts(p.parts, prepareStr(path));
}

/** restic's filter.ChildMatch: whether something below directory `path` may match. */
export function filterChildMatch(pattern: FilterPattern | ByteString, path: ByteString): boolean {
  if (pattern === '') return true;
  const p = typeof pattern === 'string' ? prepareFilterPattern(pattern) : pattern;
  let strs = prepareStr(path);
  if (p.parts[0]!.pattern !== '/') return true;
  const pos = doubleWildcard(p.parts);
  if (pos >= 0 && strs.length >= pos) strs = strs.slice(0, pos);
  const l = Math.min(strs.length, p.parts.length);
  return matchParts(p.parts.slice(0, l), strs);
}

/**
 * Go's strings.ToLower on a byte string: simple per-character lower-casing; invalid
 * UTF-8 bytes become U+FFFD (as strings.Map writes them).
 */
export function lowerBstr(s: ByteString): ByteString {
  if (!/[^\x00-\x7f]/.test(s)) return s.toLowerCase();
  let out = '';
  for (let i = 0; i < s.length;) {
    const [r, n] = decodeRune(s, i);
    i += n;
    const lower = String.fromCodePoint(r).toLowerCase();
    out += String.fromCodePoint(lower.codePointAt(0)!);
  }
  return bstrFromText(out);
}
