/**
 * The node listing behind `ls` (restic 0.14's runLs): every node of a tree in walk
 * order, optionally only those inside some absolute directories (with `recursive`,
 * also everything below them).
 */
import type { Node } from '../format/node.js';
import { UsageError } from '../errors.js';
import { type ByteString, hasPathPrefix } from '../go/bytestring.js';
import { type TreeLoader, walkTree } from './walker.js';

export interface ListOptions {
  /** Absolute directories ('/'-separated byte strings) to list; empty lists everything. */
  dirs?: ByteString[];
  /** With `dirs`: also list the contents of subdirectories of the listed directories. */
  recursive?: boolean;
}

/** Calls `onNode(path, node)` for each listed node, in restic's order. */
export async function listNodes(
  loader: TreeLoader,
  treeId: string,
  opts: ListOptions,
  onNode: (path: ByteString, node: Node) => void | Promise<void>,
): Promise<void> {
  const dirs = opts.dirs ?? [];
  for (const d of dirs) {
    if (!d.startsWith('/')) throw new UsageError("All path filters must be absolute, starting with a forward slash '/'");
  }
  const withinDir = (p: ByteString) => dirs.length === 0 || dirs.some((d) => hasPathPrefix(d, p));
  const approaching = (p: ByteString) => dirs.length === 0 || dirs.some((d) => hasPathPrefix(p, d));
  await walkTree(loader, treeId, async (_parent, p, node, err) => {
    if (err) throw err;
    if (node === null) return {};
    if (withinDir(p)) {
      await onNode(p, node);
      if (opts.recursive) return {};
    }
    if (approaching(p)) return {};
    if (node.type === 'dir') return { skip: true };
    return {};
  });
}
