/**
 * Go strings are byte strings: tree node names and paths may hold bytes that are not
 * valid UTF-8, and restic compares, joins and prints them byte by byte. Here such a
 * value is a JS string with one char per byte (the `latin1` mapping, lossless both ways),
 * so Go's string operations (`<`, path.Join, prefix tests) work unchanged on it.
 */

/** A JS string holding one byte per char (code units 0…255), standing for a Go string. */
export type ByteString = string;

/** The byte string of raw bytes. */
export function bstr(bytes: Uint8Array): ByteString {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The byte string of a text's UTF-8 encoding (e.g. a command-line argument). */
export function bstrFromText(text: string): ByteString {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** The raw bytes of a byte string. */
export function bstrBytes(s: ByteString): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A byte string decoded as UTF-8 for display (invalid bytes become U+FFFD). */
export function bstrText(s: ByteString): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** Go's path.Clean (lexical, '/'-separated). */
export function cleanPath(p: ByteString): ByteString {
  if (p === '') return '.';
  const rooted = p[0] === '/';
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** Go's path.Join: joins the non-empty elements with '/' and cleans the result. */
export function joinPath(...elems: ByteString[]): ByteString {
  const parts = elems.filter((e) => e !== '');
  return parts.length ? cleanPath(parts.join('/')) : '';
}

/** Go's path.Dir. */
function dirPath(p: ByteString): ByteString {
  const i = p.lastIndexOf('/');
  return cleanPath(p.slice(0, i + 1));
}

/**
 * restic's fs.HasPathPrefix: whether `p` is `base` or lies below it (both absolute or
 * both relative; compared after cleaning, component by component).
 */
export function hasPathPrefix(base: ByteString, p: ByteString): boolean {
  if (base.startsWith('/') !== p.startsWith('/')) return false;
  base = cleanPath(base);
  p = cleanPath(p);
  if (base === p) return true;
  for (;;) {
    const dir = dirPath(p);
    if (base === dir) return true;
    if (p === dir) return false;
    p = dir;
  }
}

/** Go's string comparison (byte order). */
export function compareBstr(a: ByteString, b: ByteString): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Go's sort.Strings on UTF-16 JS strings: UTF-8 byte order, which differs from `sort()` past U+FFFF. */
export function goSortStrings(list: readonly string[]): string[] {
  return list
    .map((s) => ({ s, b: Buffer.from(s, 'utf8') }))
    .sort((x, y) => Buffer.compare(x.b, y.b))
    .map((e) => e.s);
}
