/**
 * Snapshot comparison behind `diff` (restic 0.14's Comparer): the changed paths with
 * restic's modifiers (+ added, - removed, M content modified, T type changed,
 * U metadata updated) and the added/removed statistics, counted over unique blobs.
 */
import type { Node } from '../format/node.js';
import { BlobIdSet, blobIdInto } from '../format/blob-list.js';
import { MasterIndex } from '../repository/master-index.js';
import { parseGoTime } from '../go/time.js';
import { type ByteString, bstr, compareBstr, joinPath } from '../go/bytestring.js';

/** What the comparison needs from a repository (a Repository with its index loaded). */
export interface DiffRepository {
  loadTree(id: string): Promise<Node[]>;
  readonly index: MasterIndex;
}

export interface DiffChange {
  path: ByteString;
  /** "+", "-", or a combination of "T", "M", "U". */
  modifier: string;
}

export interface DiffStat {
  files: number;
  dirs: number;
  others: number;
  dataBlobs: number;
  treeBlobs: number;
  bytes: number;
}

export interface DiffResult {
  changedFiles: number;
  added: DiffStat;
  removed: DiffStat;
}

export interface DiffOptions {
  /** Report metadata changes ("U"), restic's --metadata. */
  metadata?: boolean;
  onChange?: (c: DiffChange) => void | Promise<void>;
  /** Problems restic reports and continues after (unloadable subtrees, unknown blob sizes). */
  onWarning?: (message: string) => void;
}

const emptyStat = (): DiffStat => ({ files: 0, dirs: 0, others: 0, dataBlobs: 0, treeBlobs: 0, bytes: 0 });

function addNode(s: DiffStat, node: Node): void {
  if (node.type === 'file') s.files++;
  else if (node.type === 'dir') s.dirs++;
  else s.others++;
}

const idBuf = Buffer.alloc(32);

/** The blobs a node references (restic's BlobSet: binary IDs, not a string each). */
function addBlobs(set: BlobIdSet, node: Node | undefined): void {
  if (!node) return;
  if (node.type === 'file') for (const id of node.content ?? []) set.add('data', blobIdInto(id, idBuf));
  else if (node.type === 'dir' && node.subtree) set.add('tree', blobIdInto(node.subtree, idBuf));
}

function blobSetOf(tree: string): BlobIdSet {
  const set = new BlobIdSet();
  set.add('tree', blobIdInto(tree, idBuf));
  return set;
}

function sameTime(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseGoTime(a);
  const y = parseGoTime(b);
  return x.sec === y.sec && x.nsec === y.nsec;
}

const n0 = (v: number | bigint | undefined) => BigInt(v ?? 0);

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return Buffer.compare(a ?? new Uint8Array(), b ?? new Uint8Array()) === 0;
}

/** restic's Node.Equals. */
export function nodesEqual(a: Node, b: Node): boolean {
  if (!sameBytes(a.name, b.name) || a.type !== b.type) return false;
  if ((a.mode ?? 0) >>> 0 !== (b.mode ?? 0) >>> 0) return false;
  if (!sameTime(a.mtime, b.mtime) || !sameTime(a.atime, b.atime) || !sameTime(a.ctime, b.ctime)) return false;
  if (a.uid !== b.uid || a.gid !== b.gid || (a.user ?? '') !== (b.user ?? '') || (a.group ?? '') !== (b.group ?? '')) return false;
  if (n0(a.inode) !== n0(b.inode) || n0(a.deviceId) !== n0(b.deviceId) || n0(a.size) !== n0(b.size) || n0(a.links) !== n0(b.links))
    return false;
  if (!sameBytes(a.linktarget, b.linktarget) || n0(a.device) !== n0(b.device)) return false;
  if ((a.content === null) !== (b.content === null)) return false;
  if (a.content && b.content && (a.content.length !== b.content.length || a.content.some((id, i) => id !== b.content![i]))) return false;
  const xa = a.extendedAttributes ?? [];
  const xb = b.extendedAttributes ?? [];
  if (xa.length !== xb.length) return false;
  const attrs = new Map(xa.map((x) => [x.name, x.value]));
  const seen = new Set<string>();
  for (const x of xb) {
    const v = attrs.get(x.name);
    if (v === undefined || !sameBytes(v, x.value)) return false;
    seen.add(x.name);
  }
  for (const name of attrs.keys()) if (!seen.has(name)) return false;
  if ((a.subtree ?? '') !== (b.subtree ?? '')) return false;
  return (a.error ?? '') === (b.error ?? '');
}

function sameContent(a: string[] | null, b: string[] | null): boolean {
  // reflect.DeepEqual on two IDs slices: nil and empty differ.
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Compare tree `tree1` (before) with `tree2` (after). */
export async function diffTrees(repo: DiffRepository, tree1: string, tree2: string, opts: DiffOptions = {}): Promise<DiffResult> {
  const c = new Comparer(repo, opts, tree1, tree2);
  await c.diffTree('/', tree1, tree2);
  return c.finish();
}

/** One side of the comparison: its modifier, its statistics and the blobs it references. */
interface Side {
  readonly mode: '-' | '+';
  readonly stats: DiffStat;
  readonly blobs: BlobIdSet;
}

/** restic's Comparer: walks both trees, emits changes and collects the blobs on each side. */
class Comparer {
  private readonly result: DiffResult = { changedFiles: 0, added: emptyStat(), removed: emptyStat() };
  /** Blobs referenced before (removed side) and after (added side). */
  private readonly before: Side;
  private readonly after: Side;
  /** Blobs of subtrees both sides share. */
  private readonly common = new BlobIdSet();
  private readonly warn: (message: string) => void;
  private readonly emit: (c: DiffChange) => void | Promise<void>;

  constructor(
    private readonly repo: DiffRepository,
    private readonly opts: DiffOptions,
    tree1: string,
    tree2: string,
  ) {
    this.warn = opts.onWarning ?? (() => {});
    this.emit = opts.onChange ?? (() => {});
    this.before = { mode: '-', stats: this.result.removed, blobs: blobSetOf(tree1) };
    this.after = { mode: '+', stats: this.result.added, blobs: blobSetOf(tree2) };
  }

  async diffTree(prefix: ByteString, id1: string, id2: string): Promise<void> {
    const t1 = new Map((await this.repo.loadTree(id1)).map((n) => [bstr(n.name), n]));
    const t2 = new Map((await this.repo.loadTree(id2)).map((n) => [bstr(n.name), n]));
    const names = [...new Set([...t1.keys(), ...t2.keys()])].sort(compareBstr);
    for (const name of names) {
      const node1 = t1.get(name);
      const node2 = t2.get(name);
      addBlobs(this.before.blobs, node1);
      addBlobs(this.after.blobs, node2);
      if (node1 && node2) await this.diffNode(prefix, name, node1, node2);
      else if (node1) await this.oneSided(this.before, prefix, name, node1);
      else if (node2) await this.oneSided(this.after, prefix, name, node2);
    }
  }

  /** The removed and added statistics, counted over the blobs only one side has. */
  finish(): DiffResult {
    this.count(this.before, this.after);
    this.count(this.after, this.before);
    return this.result;
  }

  /** A name present on both sides. */
  private async diffNode(prefix: ByteString, name: ByteString, node1: Node, node2: Node): Promise<void> {
    let p = joinPath(prefix, name);
    let mod = '';
    if (node1.type !== node2.type) mod += 'T';
    if (node2.type === 'dir') p += '/';
    if (node1.type === 'file' && node2.type === 'file' && !sameContent(node1.content, node2.content)) {
      mod += 'M';
      this.result.changedFiles++;
    } else if (this.opts.metadata && !nodesEqual(node1, node2)) {
      mod += 'U';
    }
    if (mod) await this.emit({ path: p, modifier: mod });
    if (node1.type === 'dir' && node2.type === 'dir' && node1.subtree && node2.subtree) {
      try {
        if (node1.subtree === node2.subtree) await this.collectDir(this.common, node1.subtree);
        else await this.diffTree(p, node1.subtree, node2.subtree);
      } catch (err) {
        this.warn(`error: ${(err as Error).message}`);
      }
    }
  }

  /** A name only on one side (removed or added), with everything below it. */
  private async oneSided(side: Side, prefix: ByteString, name: ByteString, node: Node): Promise<void> {
    let p = joinPath(prefix, name);
    if (node.type === 'dir') p += '/';
    await this.emit({ path: p, modifier: side.mode });
    addNode(side.stats, node);
    addBlobs(side.blobs, node); // already there for a name diffTree found
    if (node.type === 'dir' && node.subtree) {
      try {
        await this.printDir(side, p, node.subtree);
      } catch (err) {
        this.warn(`error: ${(err as Error).message}`);
      }
    }
  }

  private async printDir(side: Side, prefix: ByteString, id: string): Promise<void> {
    for (const node of await this.repo.loadTree(id)) await this.oneSided(side, prefix, bstr(node.name), node);
  }

  private async collectDir(blobs: BlobIdSet, id: string): Promise<void> {
    for (const node of await this.repo.loadTree(id)) {
      addBlobs(blobs, node);
      if (node.type === 'dir' && node.subtree) {
        try {
          await this.collectDir(blobs, node.subtree);
        } catch (err) {
          this.warn(`error: ${(err as Error).message}`);
        }
      }
    }
  }

  /** Add the blobs only on `side` (not on `other`, not shared) to its statistics. */
  private count(side: Side, other: Side): void {
    const stats = side.stats;
    side.blobs.forEach((type, idBytes) => {
      if (other.blobs.has(type, idBytes) || this.common.has(type, idBytes)) return;
      const id = Buffer.from(idBytes.buffer, idBytes.byteOffset, 32).toString('hex');
      if (type === 'data') stats.dataBlobs++;
      else stats.treeBlobs++;
      const loc = this.repo.index.lookup(type, id)[0];
      if (!loc) {
        this.warn(`unable to find blob size for <${type}/${id.slice(0, 8)}>`);
        return;
      }
      stats.bytes += MasterIndex.plaintextSize(loc);
    });
  }
}
