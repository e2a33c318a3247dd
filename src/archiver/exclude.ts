/**
 * restic's backup excludes: patterns (--exclude, --iexclude, --exclude-file), cache
 * directories (--exclude-caches), tag files (--exclude-if-present), size
 * (--exclude-larger-than) and file-system boundaries (--one-file-system).
 */
import fs, { type BigIntStats } from 'node:fs';
import { type Pattern, matchList, parsePattern } from '../go/filter.js';
import { UsageError } from '../errors.js';
import type { ArchiverFs } from './fs.js';

export interface ExcludeOptions {
  exclude?: string[];
  iexclude?: string[];
  /** Tag files: "NAME" or "NAME:HEADER" (the file must start with HEADER). */
  excludeIfPresent?: string[];
  excludeCaches?: boolean;
  /** Files larger than this many bytes are skipped. */
  excludeLargerThan?: number;
  oneFileSystem?: boolean;
}

const CACHEDIR_TAG = 'CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55';

/** Patterns from --exclude-file: one per line, blank lines and # comments ignored, $VARS expanded. */
export function readPatternFile(file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`failed to read exclude file ${file}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, v: string) => env[v] ?? ''));
}

export class Excluder {
  private readonly patterns: Pattern[];
  private readonly ipatterns: Pattern[];
  private readonly tags: Array<{ name: string; header: string }>;
  private readonly tagCache = new Map<string, boolean>();
  /** Device of each backup target, for --one-file-system. */
  private readonly targetDevices = new Map<string, bigint>();

  constructor(
    private readonly fsys: ArchiverFs,
    private readonly opts: ExcludeOptions = {},
  ) {
    this.patterns = (opts.exclude ?? []).map(parsePattern);
    this.ipatterns = (opts.iexclude ?? []).map(parsePattern);
    const tags = [...(opts.excludeIfPresent ?? []), ...(opts.excludeCaches ? [CACHEDIR_TAG] : [])];
    this.tags = tags.map((t) => {
      const i = t.indexOf(':');
      return i < 0 ? { name: t, header: '' } : { name: t.slice(0, i), header: t.slice(i + 1) };
    });
  }

  get active(): boolean {
    const o = this.opts;
    return !!(this.patterns.length || this.ipatterns.length || this.tags.length || o.excludeLargerThan || o.oneFileSystem);
  }

  /** Patterns the snapshot records in its `excludes` field. */
  recorded(): string[] {
    return [...(this.opts.exclude ?? []), ...(this.opts.iexclude ?? [])];
  }

  noteTarget(target: Buffer, st: BigIntStats): void {
    this.targetDevices.set(target.toString('latin1'), st.dev);
  }

  /** Whether the item at `p` (path as walked, latin1 bytes) with stat `st` is excluded. */
  excluded(p: Buffer, st: BigIntStats, targetDevice?: bigint): boolean {
    const s = p.toString();
    if (this.patterns.length && matchList(this.patterns, s)) return true;
    if (this.ipatterns.length && matchList(this.ipatterns, s, true)) return true;
    if (this.opts.excludeLargerThan && st.isFile() && Number(st.size) > this.opts.excludeLargerThan) return true;
    if (this.opts.oneFileSystem && targetDevice !== undefined && st.dev !== targetDevice && !this.isMountPoint(p, st, targetDevice))
      return true;
    if (this.tags.length) {
      const slash = p.lastIndexOf(0x2f);
      const dir = slash > 0 ? p.subarray(0, slash) : Buffer.from('/');
      const base = p.subarray(slash + 1).toString();
      // the tag file itself stays; everything else in a tagged directory goes
      if (!this.tags.some((t) => t.name === base) && this.tagged(dir)) return true;
    }
    return false;
  }

  /**
   * restic keeps a mount point itself (an empty directory in the snapshot): a directory on
   * another device whose parent is on the target's device. Its contents stay excluded.
   */
  private isMountPoint(p: Buffer, st: BigIntStats, targetDevice: bigint): boolean {
    if (!st.isDirectory()) return false;
    const slash = p.lastIndexOf(0x2f);
    const parent = slash > 0 ? p.subarray(0, slash) : Buffer.from('/');
    try {
      return this.fsys.lstat(parent).dev === targetDevice;
    } catch {
      return false;
    }
  }

  private tagged(dir: Buffer): boolean {
    const key = dir.toString('latin1');
    let v = this.tagCache.get(key);
    if (v === undefined) {
      v = this.tags.some((t) => this.hasTag(dir, t));
      this.tagCache.set(key, v);
    }
    return v;
  }

  private hasTag(dir: Buffer, t: { name: string; header: string }): boolean {
    const f = Buffer.concat([dir, Buffer.from('/' + t.name)]);
    try {
      if (!this.fsys.lstat(f).isFile()) return false;
    } catch {
      return false;
    }
    if (!t.header) return true;
    const fd = this.fsys.open(f);
    try {
      const buf = Buffer.alloc(t.header.length);
      const n = this.fsys.read(fd, buf, 0, buf.length, 0);
      return n === buf.length && buf.toString() === t.header;
    } finally {
      this.fsys.close(fd);
    }
  }
}
