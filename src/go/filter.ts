/**
 * restic's path filters (internal/filter): patterns are split at '/', each component
 * matched with glob rules (* ? [..] and escapes, as Go's filepath.Match), and `**`
 * matches any number of components. A pattern that does not start with '/' may match
 * at any depth. `!pattern` negates (restic 0.14 supports it for excludes).
 */

export interface Pattern {
  parts: string[];
  absolute: boolean;
  negate: boolean;
  original: string;
}

export function parsePattern(p: string): Pattern {
  let s = p;
  let negate = false;
  if (s.startsWith('!')) {
    negate = true;
    s = s.slice(1);
  }
  const absolute = s.startsWith('/');
  const parts = s
    .split('/')
    .filter((c, i) => c !== '' || i === 0)
    .filter((c) => c !== '');
  return { parts, absolute, negate, original: p };
}

/** Go filepath.Match for one component. */
function matchComponent(pattern: string, name: string, ignoreCase = false): boolean {
  if (ignoreCase) {
    pattern = pattern.toLowerCase();
    name = name.toLowerCase();
  }
  return globMatch(pattern, 0, name, 0);
}

function globMatch(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return true;
      for (let k = si; k <= s.length; k++) if (globMatch(p, pi, s, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      pi++;
      si++;
      continue;
    }
    if (c === '[') {
      const end = p.indexOf(']', pi + 2);
      if (end < 0) return false;
      let body = p.slice(pi + 1, end);
      const neg = body.startsWith('^');
      if (neg) body = body.slice(1);
      let hit = false;
      for (let k = 0; k < body.length; k++) {
        let lo = body[k]!;
        if (lo === '\\' && k + 1 < body.length) lo = body[++k]!;
        let hi = lo;
        if (body[k + 1] === '-' && k + 2 < body.length) {
          hi = body[k + 2]!;
          k += 2;
        }
        if (s[si]! >= lo && s[si]! <= hi) hit = true;
      }
      if (hit === neg) return false;
      pi = end + 1;
      si++;
      continue;
    }
    if (c === '\\' && pi + 1 < p.length) {
      if (p[pi + 1] !== s[si]) return false;
      pi += 2;
      si++;
      continue;
    }
    if (c !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

function matchParts(pat: string[], pi: number, str: string[], si: number, ignoreCase: boolean): boolean {
  if (pi === pat.length) return si === str.length;
  if (pat[pi] === '**') {
    for (let k = si; k <= str.length; k++) if (matchParts(pat, pi + 1, str, k, ignoreCase)) return true;
    return false;
  }
  if (si === str.length) return false;
  return matchComponent(pat[pi]!, str[si]!, ignoreCase) && matchParts(pat, pi + 1, str, si + 1, ignoreCase);
}

function components(path: string): string[] {
  return path.split('/').filter(Boolean);
}

/** Whether `path` (absolute, '/'-separated) matches the pattern exactly or inside a matched dir. */
function match(p: Pattern, path: string, ignoreCase = false): boolean {
  const str = components(path);
  const pat = p.absolute ? p.parts : ['**', ...p.parts];
  // A match of a parent directory covers everything below it (restic matches prefixes).
  for (let n = str.length; n >= 1; n--) if (matchParts(pat, 0, str.slice(0, n), 0, ignoreCase)) return true;
  return false;
}

/** Whether something below `dirPath` could match (restic's ChildMatch), to decide descending. */
export function childMatch(p: Pattern, dirPath: string, ignoreCase = false): boolean {
  if (!p.absolute) return true;
  const str = components(dirPath);
  const pat = p.parts;
  // Compare the directory's components against the pattern's leading components.
  for (let i = 0; i < str.length && i < pat.length; i++) {
    if (pat[i] === '**') return true;
    if (!matchComponent(pat[i]!, str[i]!, ignoreCase)) return false;
  }
  return true;
}

/** Evaluate a list of patterns with negation: the last matching pattern decides. */
export function matchList(patterns: Pattern[], path: string, ignoreCase = false): boolean {
  let matched = false;
  for (const p of patterns) if (match(p, path, ignoreCase)) matched = !p.negate;
  return matched;
}
