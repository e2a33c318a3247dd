/**
 * Depth-first walk over a snapshot's trees with restic 0.14's walker semantics
 * (internal/walker): nodes in name order, paths joined with path.Join from "/",
 * a callback that may skip a directory (or the rest of a tree) and may mark trees as
 * "ignored" so that identical subtrees are not visited again. ls, find, stats and dump
 * produce restic's output only when they visit nodes in exactly this order.
 */
import type { Node } from '../format/node.js';
import { type ByteString, bstr, compareBstr, joinPath } from '../go/bytestring.js';
import { ResticError } from '../errors.js';

/** Anything that can load a tree blob's nodes (a Repository does). */
export interface TreeLoader {
  loadTree(id: string): Promise<Node[]>;
}

/** What a visit asks of the walker (restic's `(ignore bool, err error)` pair). */
export interface VisitResult {
  /**
   * restic's "ignore": do not visit this node's tree again. A directory whose subtree
   * was ignored is skipped entirely (not even reported) when met again later.
   */
  ignore?: boolean;
  /**
   * restic's ErrSkipNode: for a directory, do not descend into it; for any other node,
   * skip the remaining entries of the current tree.
   */
  skip?: boolean;
}

/**
 * Called for the root (node `null`, path "/") and then for every node. `error` is set
 * when the tree of this directory (or the root tree) could not be loaded; the callback
 * may throw it (the walk stops) or return `skip` to go on without it.
 */
export type WalkVisitor = (
  parentTreeId: string,
  path: ByteString,
  node: Node | null,
  error: unknown,
) => VisitResult | void | Promise<VisitResult | void>;

export class WalkError extends ResticError {}

/** Walk the tree `rootId`; `ignoreTrees` (shared between walks if given) collects ignored trees. */
export async function walkTree(
  loader: TreeLoader,
  rootId: string,
  visit: WalkVisitor,
  ignoreTrees: Set<string> = new Set(),
): Promise<void> {
  let tree: Node[] | null = null;
  let loadErr: unknown = null;
  try {
    tree = await loader.loadTree(rootId);
  } catch (err) {
    loadErr = err;
  }
  const r = (await visit(rootId, '/', null, loadErr)) ?? {};
  if (r.skip) return;
  if (loadErr) throw loadErr;
  await walk(loader, '/', rootId, tree!, ignoreTrees, visit);
}

/** Nodes sorted by raw name bytes (restic sorts before walking, whatever the stored order). */
function sorted(nodes: Node[]): Array<{ node: Node; name: ByteString }> {
  return nodes.map((node) => ({ node, name: bstr(node.name) })).sort((a, b) => compareBstr(a.name, b.name));
}

async function walk(
  loader: TreeLoader,
  prefix: ByteString,
  parentTreeId: string,
  nodes: Node[],
  ignoreTrees: Set<string>,
  visit: WalkVisitor,
): Promise<boolean> {
  let allIgnored = nodes.length > 0;
  for (const { node, name } of sorted(nodes)) {
    const p = joinPath(prefix, name);
    if (node.type !== 'dir') {
      const r = (await visit(parentTreeId, p, node, null)) ?? {};
      if (r.skip) return allIgnored;
      if (!r.ignore) allIgnored = false;
      continue;
    }
    if (!node.subtree) throw new WalkError(`subtree for node ${JSON.stringify(Buffer.from(node.name).toString())} in tree ${p} is nil`);
    if (ignoreTrees.has(node.subtree)) continue;
    let subtree: Node[] | null = null;
    let loadErr: unknown = null;
    try {
      subtree = await loader.loadTree(node.subtree);
    } catch (err) {
      loadErr = err;
    }
    const r = (await visit(parentTreeId, p, node, loadErr)) ?? {};
    if (r.skip) {
      if (r.ignore) ignoreTrees.add(node.subtree);
      continue;
    }
    if (r.ignore) ignoreTrees.add(node.subtree);
    else allIgnored = false;
    if (loadErr) throw loadErr;
    const ignored = await walk(loader, p, node.subtree, subtree!, ignoreTrees, visit);
    if (ignored) ignoreTrees.add(node.subtree);
    else allIgnored = false;
  }
  return allIgnored;
}

/**
 * Find the tree of directory `dir` (absolute or relative to the root, '/'-separated)
 * below `rootId`. Returns the root for "/" or "".
 */
export async function findTreeDirectory(loader: TreeLoader, rootId: string, dir: ByteString): Promise<string> {
  let tree = rootId;
  let walked = '';
  for (const part of dir.split('/').filter((p) => p !== '' && p !== '.')) {
    walked += '/' + part;
    const node = (await loader.loadTree(tree)).find((n) => bstr(n.name) === part);
    if (!node) throw new WalkError(`path ${Buffer.from(walked, 'latin1').toString()} not found in snapshot`);
    if (node.type !== 'dir' || !node.subtree) throw new WalkError(`path ${Buffer.from(walked, 'latin1').toString()} is not a directory`);
    tree = node.subtree;
  }
  return tree;
}
