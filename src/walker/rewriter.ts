/**
 * restic's TreeRewriter (internal/walker/rewriter.go): copy a snapshot's trees, letting a
 * callback change or drop each node, and save the trees that changed. Unchanged subtrees
 * come out with the same IDs (saving an existing tree blob is de-duplicated). Used by
 * `rewrite` (excludes) and `repair snapshots` (missing content, unreadable trees).
 */
import type { Node } from '../format/node.js';
import { encodeTree } from '../format/tree.js';
import { hashId } from '../format/id.js';
import { joinPath } from '../go/bytestring.js';
import { ResticError } from '../errors.js';

/** What the rewriter needs of a repository. */
export interface TreeStore {
  loadTree(id: string): Promise<Node[]>;
  saveTree(nodes: Node[]): Promise<string>;
}

export interface TreeRewriteOptions {
  /** The node to keep (changed or not), or null to drop it. `path` is its snapshot path. */
  rewriteNode: (node: Node, path: string) => Node | null;
  /**
   * A tree that cannot be loaded: the nodes to put in its place, or null to drop the
   * directory (for the root: the snapshot). Without it the error is thrown.
   */
  rewriteFailedTree?: (id: string | null, path: string, err: unknown) => Node[] | null;
  /**
   * restic refuses to rewrite a tree it cannot re-encode byte for byte (it would lose
   * information); repair snapshots allows it. Default false.
   */
  allowUnstableSerialization?: boolean;
  /** Rewritten trees by original ID, for rewrites that do not depend on the path (repair). */
  cacheByTreeId?: boolean;
  /** Whether a directory left empty by the rewrite stays (default: yes); else it is dropped. */
  keepEmptyDirectory?: (path: string) => boolean;
}

export class TreeRewriter {
  private readonly replaces = new Map<string, string | null>();

  constructor(
    private readonly store: TreeStore,
    private readonly opts: TreeRewriteOptions,
  ) {}

  /** The ID of the rewritten tree `id` at `path`; null when it is to be dropped. */
  async rewriteTree(id: string | null, path = '/'): Promise<string | null> {
    if (id !== null && this.replaces.has(id)) return this.replaces.get(id)!;
    let nodes: Node[];
    try {
      if (id === null) throw new ResticError('tree is null');
      nodes = await this.store.loadTree(id);
    } catch (err) {
      if (!this.opts.rewriteFailedTree) throw err;
      const replacement = this.opts.rewriteFailedTree(id, path, err);
      return replacement ? this.store.saveTree(replacement) : null;
    }
    if (!this.opts.allowUnstableSerialization && hashId(encodeTree(nodes)) !== id)
      throw new ResticError(`cannot encode tree at ${JSON.stringify(path)} without losing information`);
    const out: Node[] = [];
    for (const original of nodes) {
      const nodePath = joinPath(path, Buffer.from(original.name).toString());
      const node = this.opts.rewriteNode(original, nodePath);
      if (!node) continue;
      if (node.type === 'dir') {
        const subtree = await this.rewriteTree(node.subtree ?? null, nodePath);
        if (subtree === null) continue;
        out.push(subtree === node.subtree ? node : { ...node, subtree });
      } else out.push(node);
    }
    if (!out.length && this.opts.keepEmptyDirectory && !this.opts.keepEmptyDirectory(path)) return null;
    const newId = await this.store.saveTree(out);
    if (this.opts.cacheByTreeId && id !== null) this.replaces.set(id, newId);
    return newId;
  }
}
