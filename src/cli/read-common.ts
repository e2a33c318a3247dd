/** Options and helpers shared by the read-only commands (ls, cat, dump, find, diff, stats). */
import type { OptionSpec } from './args.js';
import type { GlobalContext } from './global.js';
import { type SnapshotFilter, parseTagLists } from '../walker/select.js';
import { type SnapshotSelector, parseTagListFlags } from '../forget/tags.js';

/** --host/--tag/--path with restic's help texts; `when` says when they apply. */
export function snapshotFilterOptions(when: string): OptionSpec[] {
  return [
    { name: 'host', short: 'H', kind: 'list', help: `only consider snapshots for this host${when} (can be specified multiple times)` },
    { name: 'tag', kind: 'list', help: `only consider snapshots which include this taglist${when} (can be specified multiple times)` },
    {
      name: 'path',
      kind: 'list',
      help: `only consider snapshots which include this (absolute) path${when} (can be specified multiple times)`,
    },
  ];
}

export function snapshotFilter(ctx: GlobalContext): SnapshotFilter {
  return {
    hosts: (ctx.opts['host'] as string[] | undefined) ?? [],
    tags: parseTagLists(ctx.opts['tag'] as string[] | undefined),
    paths: (ctx.opts['path'] as string[] | undefined) ?? [],
  };
}

/** --host/--tag/--path for forget, tag and copy: tag lists keep empty tags (restic's splitTagList). */
export function snapshotSelector(ctx: GlobalContext): SnapshotSelector {
  return {
    hosts: (ctx.opts['host'] as string[] | undefined) ?? [],
    tags: parseTagListFlags(ctx.opts['tag'] as string[] | undefined),
    paths: (ctx.opts['path'] as string[] | undefined) ?? [],
  };
}

/** restic's Warnf: a line on stderr. */
export function warn(ctx: GlobalContext, msg: string): void {
  ctx.stderr(msg.endsWith('\n') ? msg : msg + '\n');
}

/** A line on stdout for the normal progress words (restic's Verbosef), unless --quiet or --json. */
export function logLine(ctx: GlobalContext): (line: string) => void {
  return (line) => {
    if (!ctx.quiet && !ctx.json) ctx.stdout(line + '\n');
  };
}

/** A printer of restic's Verbosef lines: shown unless --quiet (also with --json, as restic). */
export function verboseLine(ctx: GlobalContext): (line: string) => void {
  return (line) => {
    if (!ctx.quiet) ctx.stdout(line + '\n');
  };
}

/** restic's Verbosef prints at the default verbosity, i.e. unless --quiet. */
export function verbose(ctx: GlobalContext): boolean {
  return !ctx.quiet;
}

/**
 * Why restic.ParseID rejects `s` (Go's hex.DecodeString errors, then the length check),
 * or null for a valid ID.
 */
export function parseIdProblem(s: string): string | null {
  const bytes = Buffer.from(s, 'utf8');
  const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  const invalid = (b: number) => {
    const hex = b.toString(16).toUpperCase().padStart(4, '0');
    const printable = b >= 0x20 && b !== 0x7f && !(b >= 0x80 && b < 0xa0) && b !== 0xad;
    return `hex.DecodeString: encoding/hex: invalid byte: U+${hex}${printable ? ` '${String.fromCharCode(b)}'` : ''}`;
  };
  let j = 1;
  for (; j < bytes.length; j += 2) {
    if (!isHex(bytes[j - 1]!)) return invalid(bytes[j - 1]!);
    if (!isHex(bytes[j]!)) return invalid(bytes[j]!);
  }
  if (bytes.length % 2 === 1) {
    if (!isHex(bytes[j - 1]!)) return invalid(bytes[j - 1]!);
    return 'hex.DecodeString: encoding/hex: odd length hex string';
  }
  if (bytes.length !== 64) return 'invalid length for hash';
  return null;
}
