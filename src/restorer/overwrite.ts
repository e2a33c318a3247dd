/**
 * restic ≥ 0.17's restore into a non-empty target: --overwrite decides whether an existing
 * entry is replaced, an existing file whose content already matches keeps its data (only
 * its metadata is restored), and --delete removes what the snapshot does not have.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { hashId } from '../format/id.js';
import type { Node } from '../format/node.js';
import { parseGoTime } from '../go/time.js';

export type OverwriteBehavior = 'always' | 'if-changed' | 'if-newer' | 'never';

export function parseOverwrite(s: string): OverwriteBehavior {
  if (s === 'always' || s === 'if-changed' || s === 'if-newer' || s === 'never') return s;
  throw new UsageError(
    `invalid argument "${s}" for "--overwrite" flag: invalid overwrite behavior "${s}", must be one of (always|if-changed|if-newer|never)`,
  );
}

const nsOf = (t: string): bigint => {
  const { sec, nsec } = parseGoTime(t);
  return sec * 1_000_000_000n + BigInt(nsec);
};

function lstatOrNull(p: Buffer): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** restic's shouldOverwrite: if-newer and never look at what is there; the others always replace. */
export function shouldOverwrite(mode: OverwriteBehavior, node: Node, p: Buffer): boolean {
  if (mode === 'always' || mode === 'if-changed') return true;
  const st = lstatOrNull(p);
  if (!st) return true;
  return mode === 'if-newer' && nsOf(node.mtime) > st.mtimeNs;
}

/**
 * restic's verifyFile: 'missing' when nothing (or no regular file) is there, 'match' when
 * the file already holds the node's content, else 'differs'. `trustMtime` (if-changed)
 * accepts an equal size and mtime without reading. `blobSize` gives each blob's length.
 */
export function existingContent(
  node: Node,
  p: Buffer,
  trustMtime: boolean,
  blobSize: (id: string) => number,
): 'missing' | 'match' | 'differs' {
  const st = lstatOrNull(p);
  if (!st || !st.isFile()) return 'missing';
  if (st.size !== BigInt(node.size ?? 0)) return 'differs';
  if (trustMtime && st.mtimeNs === nsOf(node.mtime)) return 'match';
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    let pos = 0;
    for (const id of node.content ?? []) {
      const size = blobSize(id);
      const buf = Buffer.allocUnsafe(size);
      if (fs.readSync(fd, buf, 0, size, pos) !== size || hashId(buf) !== id) return 'differs';
      pos += size;
    }
    return 'match';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * restic's removeUnexpectedFiles for one directory: entries of `dir` not named in the
 * snapshot and selected by the include/exclude filter are removed (whole trees). Returns
 * every removed path, deepest first, as restic reports them. `dryRun` only lists them.
 */
export function removeUnexpected(
  dir: Buffer,
  location: string,
  expected: Set<string>,
  selected: (snapPath: string) => boolean,
  dryRun: boolean,
): Buffer[] {
  let names: Buffer[];
  try {
    names = fs.readdirSync(dir, { encoding: 'buffer' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  const removed: Buffer[] = [];
  for (const name of names) {
    if (expected.has(name.toString('latin1'))) continue;
    if (!selected(path.posix.join(location, name.toString()))) continue;
    const p = Buffer.concat([dir, Buffer.from('/'), name]);
    removed.push(...walkDeepestFirst(p));
    if (!dryRun) fs.rmSync(p, { recursive: true, force: true });
  }
  return removed;
}

/** filepath.Walk's order (lexical, parents first), reversed: what restic reports. */
function walkDeepestFirst(p: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const walk = (q: Buffer) => {
    out.push(q);
    if (!fs.lstatSync(q).isDirectory()) return;
    const names = fs.readdirSync(q, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const n of names) walk(Buffer.concat([q, Buffer.from('/'), n]));
  };
  walk(p);
  return out.reverse();
}
