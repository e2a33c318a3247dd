/**
 * restic's --files-from, --files-from-verbatim and --files-from-raw: backup targets read
 * from files ("-" is standard input). Text listings may be UTF-16 with a BOM, as restic's
 * textfile.Read accepts; --files-from lines are trimmed, '#' starts a comment and each
 * line is a Go filepath.Glob pattern.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { bstrFromText } from '../go/bytestring.js';
import { goFilepathMatch } from '../go/pattern.js';

export interface FilesFromOptions {
  /** Files of glob patterns, one a line (--files-from). */
  filesFrom?: string[];
  /** Files of names taken literally, one a line (--files-from-verbatim). */
  filesFromVerbatim?: string[];
  /** Files of names each ended by a zero byte (--files-from-raw). */
  filesFromRaw?: string[];
  /** Reads standard input for "-" (default: file descriptor 0). */
  readStdin?: () => Buffer;
  /** Called for a pattern matching nothing (restic warns and goes on). */
  onWarning?: (message: string) => void;
}

/** Targets from the listings, in restic's order: patterns, verbatim names, raw names. */
export function filesFromTargets(opts: FilesFromOptions): string[] {
  const read = (file: string) => (file === '-' ? (opts.readStdin ?? (() => fs.readFileSync(0)))() : fs.readFileSync(file));
  const targets: string[] = [];
  for (const file of opts.filesFrom ?? []) {
    for (let line of textLines(read(file))) {
      line = line.trim();
      if (line === '' || line.startsWith('#')) continue;
      let found: string[];
      try {
        found = goGlob(line);
      } catch {
        throw new UsageError(`pattern: ${line}: syntax error in pattern`);
      }
      if (!found.length) opts.onWarning?.(`pattern ${JSON.stringify(line)} does not match any files, skipping`);
      targets.push(...found);
    }
  }
  for (const file of opts.filesFromVerbatim ?? []) targets.push(...textLines(read(file)).filter((l) => l !== ''));
  for (const file of opts.filesFromRaw ?? []) targets.push(...rawNames(read(file)));
  return targets;
}

/** restic's textfile.Read then bufio.ScanLines: BOM and UTF-16 handled, "\r\n" and "\n" end lines. */
function textLines(data: Buffer): string[] {
  let text: string;
  if (data[0] === 0xff && data[1] === 0xfe) text = data.subarray(2).toString('utf16le');
  else if (data[0] === 0xfe && data[1] === 0xff) text = Buffer.from(data.subarray(2)).swap16().toString('utf16le');
  else text = (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? data.subarray(3) : data).toString('utf8');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function rawNames(data: Buffer): string[] {
  if (!data.length) return [];
  if (data[data.length - 1] !== 0) throw new UsageError('--files-from-raw: trailing zero byte missing');
  const names = data.subarray(0, -1).toString('utf8').split('\0');
  if (names.includes('')) throw new UsageError('--files-from-raw: empty filename in listing');
  return names;
}

const hasMeta = (p: string) => /[*?[\\]/.test(p);

/** Go's filepath.Glob (Unix): matches in lexical order; no "**", a bad pattern is an error. */
function goGlob(pattern: string): string[] {
  goFilepathMatch(bstrFromText(pattern), ''); // Go checks the whole pattern first
  if (!hasMeta(pattern)) return exists(pattern) ? [pattern] : [];
  let dir = path.posix.dirname(pattern);
  const file = path.posix.basename(pattern);
  if (pattern.endsWith('/')) return []; // Go: an empty last element matches nothing
  dir = path.posix.normalize(dir);
  const dirs = hasMeta(dir) && dir !== pattern ? goGlob(dir) : [dir];
  const out: string[] = [];
  for (const d of dirs) out.push(...globIn(d, file));
  return out;
}

function globIn(dir: string, file: string): string[] {
  let names: string[];
  try {
    if (!fs.statSync(dir).isDirectory()) return [];
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.filter((n) => goFilepathMatch(bstrFromText(file), bstrFromText(n))).map((n) => path.posix.join(dir, n));
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
