/**
 * The search behind `find` (restic 0.14's Finder): nodes whose path matches any of
 * the patterns (restic filter semantics, optionally case-insensitive, optionally within
 * a modification-time window), or the places where given blob / tree IDs are used.
 * Trees without matches are remembered and not searched again in later snapshots.
 */
import type { Node } from '../format/node.js';
import { parseGoTime } from '../go/time.js';
import { UsageError } from '../errors.js';
import { type ByteString } from '../go/bytestring.js';
import { type FilterPattern, filterChildMatch, filterMatch, lowerBstr, prepareFilterPattern } from '../go/pattern.js';
import { type TreeLoader, walkTree } from './walker.js';
import type { FoundSnapshot } from './select.js';

/** An instant with nanosecond precision (seconds since the epoch + nanoseconds). */
export interface Instant {
  sec: bigint;
  nsec: number;
}

export interface FindPatternOptions {
  /** Patterns as byte strings (bstrFromText for text). */
  patterns: ByteString[];
  ignoreCase?: boolean;
  /** Only nodes modified at or after this instant. */
  oldest?: Instant;
  /** Only nodes modified at or before this instant. */
  newest?: Instant;
}

function compareInstant(a: Instant, b: Instant): number {
  return a.sec !== b.sec ? (a.sec < b.sec ? -1 : 1) : a.nsec - b.nsec;
}

function nodeMtime(node: Node): Instant {
  const g = parseGoTime(node.mtime);
  return { sec: g.sec, nsec: g.nsec };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * restic's find time formats ("2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05",
 * with " -0700" or " MST", the same with "02.01.2006", and "Mon Jan 2 15:04:05 -0700 MST
 * 2006"), in the local zone unless an offset is given.
 */
export function parseFindTime(str: string): Instant {
  const hm = '(\\d{1,2}):(\\d{2})';
  const zone = '(?: ([+-]\\d{4})| ([A-Za-z]{3,5}))?';
  const iso = new RegExp(`^(\\d{4})-(\\d{2})-(\\d{2})(?: ${hm}(?::(\\d{2})${zone})?)?$`).exec(str);
  const de = new RegExp(`^(\\d{2})\\.(\\d{2})\\.(\\d{4})(?: ${hm}(?::(\\d{2})${zone})?)?$`).exec(str);
  const unix = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{1,2}):(\d{2}):(\d{2}) ([+-]\d{4}) [A-Za-z]{3,5} (\d{4})$/.exec(str);
  let f: { y: number; mo: number; d: number; h: number; mi: number; s: number; off?: string; name?: string } | undefined;
  if (iso)
    f = { y: +iso[1]!, mo: +iso[2]!, d: +iso[3]!, h: +(iso[4] ?? 0), mi: +(iso[5] ?? 0), s: +(iso[6] ?? 0), off: iso[7], name: iso[8] };
  else if (de) f = { y: +de[3]!, mo: +de[2]!, d: +de[1]!, h: +(de[4] ?? 0), mi: +(de[5] ?? 0), s: +(de[6] ?? 0), off: de[7], name: de[8] };
  else if (unix && MONTHS.includes(unix[1]!)) {
    f = { y: +unix[7]!, mo: MONTHS.indexOf(unix[1]!) + 1, d: +unix[2]!, h: +unix[3]!, mi: +unix[4]!, s: +unix[5]!, off: unix[6] };
  }
  const bad = () => new UsageError(`unable to parse time: ${JSON.stringify(str)}`);
  if (!f || f.mo < 1 || f.mo > 12 || f.d < 1 || f.d > 31 || f.h > 23 || f.mi > 59 || f.s > 59) throw bad();
  let ms: number;
  if (f.off !== undefined) {
    const sign = f.off[0] === '-' ? -1 : 1;
    const offMin = sign * (Number(f.off.slice(1, 3)) * 60 + Number(f.off.slice(3, 5)));
    ms = Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s) - offMin * 60000;
  } else if (f.name !== undefined && /^(UTC|GMT)$/i.test(f.name)) {
    ms = Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s);
  } else {
    const d = new Date(f.y, f.mo - 1, f.d, f.h, f.mi, f.s);
    if (f.y < 100) d.setFullYear(f.y);
    ms = d.getTime();
  }
  if (Number.isNaN(ms)) throw bad();
  return { sec: BigInt(Math.floor(ms / 1000)), nsec: 0 };
}

export type FindObjectKind = 'blob' | 'tree';

export class Finder {
  /** Trees known to hold no match; shared by all snapshots searched with this finder. */
  readonly ignoreTrees = new Set<string>();
  private readonly patterns: FilterPattern[];
  private readonly ignoreCase: boolean;
  private itemsFound = 0;

  constructor(
    private readonly loader: TreeLoader,
    private readonly opts: FindPatternOptions,
  ) {
    this.ignoreCase = !!opts.ignoreCase;
    this.patterns = opts.patterns.map((p) => prepareFilterPattern(this.ignoreCase ? lowerBstr(p) : p));
  }

  /**
   * Search one snapshot for matching paths. A tree that cannot be loaded is reported to
   * `onTreeError` (with the ID of the tree holding its directory) and skipped.
   */
  async findInSnapshot(
    sn: FoundSnapshot,
    onMatch: (path: ByteString, node: Node) => void | Promise<void>,
    onTreeError: (parentTreeId: string, err: unknown) => void = () => {},
  ): Promise<void> {
    if (!sn.snapshot.tree) throw new UsageError(`snapshot ${sn.id.slice(0, 8)} has no tree`);
    const { oldest, newest } = this.opts;
    await walkTree(
      this.loader,
      sn.snapshot.tree,
      async (parentTreeId, p, node, err) => {
        if (err) {
          onTreeError(parentTreeId, err);
          return { skip: true };
        }
        if (node === null) return {};
        const path = this.ignoreCase ? lowerBstr(p) : p;
        const found = this.patterns.some((pat) => filterMatch(pat, path));
        let noMatch = { ignore: true, skip: false };
        if (node.type === 'dir') {
          const childMayMatch = this.patterns.some((pat) => filterChildMatch(pat, path));
          noMatch = childMayMatch ? { ignore: false, skip: false } : { ignore: true, skip: true };
        }
        if (!found) return noMatch;
        if (oldest || newest) {
          const mt = nodeMtime(node);
          if (oldest && compareInstant(mt, oldest) < 0) return noMatch;
          if (newest && compareInstant(mt, newest) > 0) return noMatch;
        }
        await onMatch(p, node);
        return {};
      },
      this.ignoreTrees,
    );
  }

  /**
   * Search one snapshot for uses of blob IDs (in file contents) and tree IDs (directory
   * subtrees); IDs may be given in full or as restic's 8-character short form. Like
   * restic, the walk stops early once every tree ID was found (when no blobs are sought).
   */
  async findIds(
    sn: FoundSnapshot,
    ids: { blobs?: Set<string>; trees?: Set<string> },
    onObject: (kind: FindObjectKind, id: string, path: ByteString, parentTreeId: string) => void | Promise<void>,
    onTreeError: (parentTreeId: string, err: unknown) => void = () => {},
  ): Promise<void> {
    if (!sn.snapshot.tree) throw new UsageError(`snapshot ${sn.id.slice(0, 8)} has no tree`);
    const { blobs, trees } = ids;
    const DONE = Symbol('done');
    try {
      await walkTree(
        this.loader,
        sn.snapshot.tree,
        async (parentTreeId, p, node, err) => {
          if (err) {
            onTreeError(parentTreeId, err);
            return { skip: true };
          }
          if (node === null) return {};
          if (node.type === 'dir' && trees && node.subtree) {
            const t = node.subtree;
            if (trees.has(t.slice(0, 8)) || trees.has(t)) {
              await onObject('tree', t, p, '');
              this.itemsFound++;
              if (this.itemsFound >= trees.size && !blobs) throw DONE;
            }
          }
          if (node.type === 'file' && blobs) {
            for (const id of node.content ?? []) {
              if (!blobs.has(id)) {
                if (!blobs.has(id.slice(0, 8))) continue;
                blobs.add(id);
                blobs.delete(id.slice(0, 8));
              }
              await onObject('blob', id, p, parentTreeId);
            }
          }
          return {};
        },
        this.ignoreTrees,
      );
    } catch (err) {
      if (err !== DONE) throw err;
    }
  }
}
