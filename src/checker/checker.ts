/**
 * restic's `check`: index files load, every indexed pack exists with the size the index
 * predicts, every snapshot's trees load and verify and every data blob they reference is
 * indexed; optionally every selected pack is downloaded whole and verified blob by blob.
 *
 * The checker keeps its own view of the index (which index file lists which pack) rather
 * than the repository's merged one, because duplicates across index files are findings.
 */
import type { Repository } from '../repository/repository.js';
import { mapLimit } from '../parallel/map-limit.js';
import { decodeIndexPacks, type IndexPack } from '../format/index-file.js';
import { MasterIndex } from '../repository/master-index.js';
import { decodeTree } from '../format/tree.js';
import type { Node } from '../format/node.js';
import { HEADER_SIZE, entrySize } from '../format/pack.js';
import { NotFoundError, isFatal } from '../errors.js';
import { type Finding, error, hint } from './findings.js';
import { verifyPack } from './verify-pack.js';
import { OpenPool, prestartOpenPool } from '../parallel/open-pool.js';
import { BufferRing, loadRecycled } from '../parallel/buffer-ring.js';
import type { EarlyPacks } from './early-packs.js';
import { ReadAhead } from '../parallel/read-ahead.js';

export type Progress = (done: number, total: number) => void;

const NULL_ID = '0'.repeat(64);
/** Node types restic 0.14's checker accepts. */
const KNOWN_TYPES = new Set(['file', 'dir', 'symlink', 'socket', 'chardev', 'dev', 'fifo']);
/** Bytes of packs downloaded ahead of the workers (not on a tight memory budget). */
export const READ_AHEAD_BYTES = 64 << 20;
/** Trees loaded concurrently while walking snapshots. */
const TREE_CONCURRENCY = 8;
/**
 * Whole packs downloaded and verified concurrently by --read-data: one per worker plus the
 * one being read. More only adds a pack-sized buffer each to the resident size.
 */
export function readConcurrency(repo: Repository): number {
  return repo.memory.packsInFlight(repo.memory.workers() + 1);
}

/** Worker threads verifying packs: one per core (as the memory budget allows), at most one per pack read in parallel. */
function readWorkers(repo: Repository, concurrency: number): number {
  const n = Math.min(concurrency, repo.memory.workers());
  // On a tight budget none when it allows none: this thread then verifies, collecting its
  // garbage as it goes as workers do (worker-gc.ts), and no second isolate or copy of a
  // pack's entries is needed. Otherwise at least one: this thread would not collect.
  return repo.memory.tight ? n : Math.max(1, n);
}

/** Start read-data's workers now, so they load while the index and trees are checked. */
export function prestartReadData(repo: Repository, concurrency = readConcurrency(repo)): void {
  prestartOpenPool(repo.key, readWorkers(repo, concurrency), repo.memory.holdFreedMemory);
}

/** Remember that index `index` lists pack `pack` (a single name until a second index lists it). */
function notePackIndex(m: Map<string, string | string[]>, pack: string, index: string): void {
  const had = m.get(pack);
  if (had === undefined) m.set(pack, index);
  else if (typeof had === 'string') {
    if (had !== index) m.set(pack, [had, index]);
  } else if (!had.includes(index)) had.push(index);
}

/** Packs being downloaded for read-data, in the order readPacks() verifies them. */
interface PackReading {
  packs: Map<string, number>;
  ids: string[];
  ring: BufferRing;
  ahead: ReadAhead;
}

export class Checker {
  /** Merged index of every index file that loaded. */
  readonly index = new MasterIndex();
  /** Pack → size predicted from its index entries. */
  readonly packs = new Map<string, number>();
  private snapshotIds: string[] = [];
  private readonly checkedTrees = new Set<string>();
  private packListing: Promise<Map<string, number>> | null = null;
  /** read-data's downloads, started by readAhead() and taken by readPacks(). */
  private reading: PackReading | null = null;

  constructor(
    readonly repo: Repository,
    /** Stops the tree walk and the pack reads between trees and packs. */
    private readonly signal?: AbortSignal,
  ) {}

  async loadSnapshots(): Promise<void> {
    this.snapshotIds = [];
    for await (const id of this.repo.listIds('snapshot')) this.snapshotIds.push(id);
  }

  get snapshotCount(): number {
    return this.snapshotIds.length;
  }

  /**
   * Load every index file. Returns hints (duplicate packs, old format, obsolete index files,
   * mixed packs, duplicate blobs) and errors (unreadable index files; fatal for `check`).
   * One file's parsed objects exist at a time (the next file downloads meanwhile); the
   * merged index keeps only its compact arrays.
   */
  async loadIndex(): Promise<{ hints: Finding[]; errors: Finding[] }> {
    const hints: Finding[] = [];
    const errors: Finding[] = [];
    const ids: string[] = [];
    for await (const id of this.repo.listIds('index')) ids.push(id);
    const supersedes = new Map<string, string[]>();
    const packToIndexes = new Map<string, string | string[]>();
    // the next file downloads while one is parsed; on a tight memory budget one at a time,
    // each decompressed and scanned in pieces (Repository.decodeIndexFile)
    const tight = this.repo.memory.tight;
    const load = (id: string) =>
      this.repo.loadUnpacked('index', id).then(
        (b) => ({ b }),
        (err: unknown) => ({ err }),
      );
    let next = ids.length && !tight ? load(ids[0]!) : null;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const got = next ? await next : null;
      next = !tight && i + 1 < ids.length ? load(ids[i + 1]!) : null;
      // into the merged index 64 packs at a time: a whole file's parsed objects never exist at
      // once (packs passed again after a restart are entries the index already has)
      const packs: IndexPack[] = [];
      const add = () => {
        for (const p of packs) notePackIndex(packToIndexes, p.id, id);
        this.index.addIndex(packs.splice(0));
      };
      const onPack = (p: IndexPack) => {
        packs.push(p);
        if (packs.length >= 64) add();
      };
      const restart = () => (packs.length = 0);
      try {
        if (got && 'err' in got) throw got.err;
        const head = got ? decodeIndexPacks(got.b, id, onPack, restart) : await this.repo.decodeIndexFile(id, onPack, restart);
        if (head.legacy) hints.push(hint('old-index-format', `index ${id} has old format`, { index: id }));
        supersedes.set(id, head.supersedes);
      } catch (err) {
        if (isFatal(err)) throw err;
        errors.push(error('index-unreadable', `error loading index ${id}: ${(err as Error).message}`, { index: id }));
        continue;
      }
      add();
    }
    for (const id of ids) {
      for (const old of supersedes.get(id) ?? []) {
        if (supersedes.has(old))
          hints.push(hint('obsolete-index', `index ${old} is superseded by index ${id.slice(0, 8)} but still present`, { index: old }));
      }
    }
    this.repo.warmTreePacks(this.index);
    this.packHints(packToIndexes, hints);
    const dups = this.duplicateBlobCount();
    if (dups > 0) hints.push(hint('duplicate-blobs', `${dups} blobs are stored in more than one pack`));
    return { hints, errors };
  }

  /** Pack sizes predicted by the index, and the duplicate-pack and mixed-pack hints. */
  private packHints(packToIndexes: Map<string, string | string[]>, hints: Finding[]): void {
    for (const id of this.index.packIds()) {
      const blobs = this.index.packBlobs(id)!;
      let size = HEADER_SIZE;
      let trees = 0;
      for (let i = 0; i < blobs.length; i++) {
        size += blobs.storedLength(i) + entrySize({ uncompressedLength: blobs.uncompressedLength(i) });
        if (blobs.type(i) === 'tree') trees++;
      }
      this.packs.set(id, size);
      const inIndexes = packToIndexes.get(id) ?? [];
      if (Array.isArray(inIndexes) && inIndexes.length > 1) {
        const names = inIndexes.map((i) => i.slice(0, 8)).sort();
        hints.push(hint('duplicate-pack', `pack ${id} contained in several indexes: {${names.join(' ')}}`, { pack: id }));
      }
      if (trees > 0 && trees < blobs.length)
        hints.push(hint('mixed-pack', `pack ${id.slice(0, 8)} contains a mix of tree and data blobs`, { pack: id }));
    }
  }

  /** Blobs stored in more than one pack (each further pack counts once). */
  private duplicateBlobCount(): number {
    const { blobs, entries } = this.index.counts();
    if (entries === blobs) return 0; // no blob has a second location: the usual case, no walk
    const seen = new Set<string>();
    let dups = 0;
    for (const id of this.index.packIds()) {
      const view = this.index.packBlobs(id)!;
      const inPack = new Set<string>();
      for (let i = 0; i < view.length; i++) {
        const hex = Buffer.from(view.idBytes(i)).toString('hex');
        const type = view.type(i);
        if (this.index.lookup(type, hex).length < 2) continue; // only blobs with several locations are kept
        const k = type[0] + hex;
        if (inPack.has(k)) continue;
        inPack.add(k);
        if (seen.has(k)) dups++;
        else seen.add(k);
      }
    }
    return dups;
  }

  /** Start listing the pack files (checkPacks takes the listing), e.g. while the index loads. */
  listPacks(): void {
    this.packListing ??= (async () => {
      const present = new Map<string, number>();
      for await (const f of this.repo.backend.list('pack')) present.set(f.name, f.size);
      return present;
    })();
    this.packListing.catch(() => undefined); // checkPacks reports it
  }

  /** Indexed packs must exist with the predicted size; packs no index lists are orphaned (hint). */
  async checkPacks(): Promise<Finding[]> {
    const out: Finding[] = [];
    this.listPacks();
    const present = await this.packListing!;
    this.packListing = null;
    for (const [id, size] of this.packs) {
      const real = present.get(id);
      present.delete(id);
      if (real === undefined) out.push(error('missing-pack', `pack ${id}: does not exist`, { pack: id }));
      else if (real !== size) out.push(error('pack-size', `pack ${id}: unexpected file size: got ${real}, expected ${size}`, { pack: id }));
    }
    for (const id of present.keys()) out.push(hint('orphaned-pack', `pack ${id}: not referenced in any index`, { pack: id }));
    return out;
  }

  /**
   * Walk every snapshot's tree once: trees must load and verify, nodes must be sane, data
   * blobs must be indexed.
   */
  async checkStructure(progress?: Progress): Promise<Finding[]> {
    const out: Finding[] = [];
    const roots: string[] = [];
    for (const id of this.snapshotIds) {
      try {
        const sn = await this.repo.loadSnapshot(id);
        if (sn.tree) roots.push(sn.tree);
        else out.push(error('snapshot', `snapshot ${id} has no tree`));
      } catch (err) {
        if (isFatal(err)) throw err; // the repository is gone: one error, not one per snapshot
        out.push(error('snapshot', `failed to load snapshot ${id}: ${(err as Error).message}`));
      }
    }
    let done = 0;
    progress?.(0, roots.length);
    for (const root of roots) {
      await this.walk([root], out);
      progress?.(++done, roots.length);
    }
    return out;
  }

  private async walk(level: string[], out: Finding[]): Promise<void> {
    while (level.length) {
      const todo = level.filter((id) => !this.checkedTrees.has(id));
      for (const id of todo) this.checkedTrees.add(id);
      const next: string[] = [];
      await mapLimit(todo, TREE_CONCURRENCY, async (id) => {
        this.signal?.throwIfAborted();
        let nodes: Node[];
        try {
          nodes = await this.loadTree(id);
        } catch (err) {
          if (isFatal(err)) throw err;
          out.push(error('tree', `error for tree ${id.slice(0, 8)}`, { tree: id, details: [(err as Error).message] }));
          return;
        }
        const errs = this.checkTree(id, nodes);
        if (errs.length) out.push(error('tree', `error for tree ${id.slice(0, 8)}`, { tree: id, details: errs }));
        for (const n of nodes) if (n.type === 'dir' && n.subtree && n.subtree !== NULL_ID) next.push(n.subtree);
      });
      level = next;
    }
  }

  private async loadTree(id: string): Promise<Node[]> {
    if (!this.index.has('tree', id)) throw new NotFoundError(`id ${id} not found in repository`);
    return decodeTree(await this.repo.loadBlob('tree', id, this.index));
  }

  private checkTree(id: string, nodes: Node[]): string[] {
    const errs: string[] = [];
    const where = `tree ${id}`;
    for (const n of nodes) {
      const name = JSON.stringify(Buffer.from(n.name).toString('utf8'));
      switch (n.type) {
        case 'file':
          if (n.content === null) errs.push(`${where}: file ${name} has nil blob list`);
          (n.content ?? []).forEach((blob, i) => {
            if (blob === NULL_ID) errs.push(`${where}: file ${name} blob ${i} has null ID`);
            else if (!this.index.has('data', blob)) errs.push(`${where}: file ${name} blob ${blob} not found in index`);
          });
          break;
        case 'dir':
          if (!n.subtree) errs.push(`${where}: dir node ${name} has no subtree`);
          else if (n.subtree === NULL_ID) errs.push(`${where}: dir node ${name} subtree id is null`);
          break;
        default:
          if (!KNOWN_TYPES.has(n.type)) errs.push(`${where}: node ${name} with invalid type ${JSON.stringify(n.type)}`);
      }
      if (n.name.length === 0) errs.push(`${where}: node with empty name`);
    }
    return errs;
  }

  /**
   * Start downloading the packs readPacks() will verify, e.g. while the trees are checked:
   * as far as the read-ahead bound allows (none on a tight memory budget).
   */
  readAhead(packs: Map<string, number>, concurrency = readConcurrency(this.repo), early?: EarlyPacks): PackReading {
    // packs downloaded while the lock settled first, in their order
    const first = new Set(early?.ids.filter((id) => packs.has(id)));
    const ids = [...first, ...[...packs.keys()].filter((id) => !first.has(id))];
    const ring = new BufferRing(concurrency);
    const fetch = (id: string) => loadRecycled(this.repo.backend, { type: 'pack', name: id }, 0, 0, ring, { signal: this.signal });
    const load = async (i: number) => {
      const id = ids[i]!;
      return (early && (await early.take(id, packs.get(id)!))) ?? fetch(id);
    };
    const ahead = new ReadAhead(
      ids.map((id) => packs.get(id)!),
      load,
      this.repo.memory.tight ? 0 : READ_AHEAD_BYTES,
    );
    ahead.start();
    return (this.reading = { packs, ids, ring, ahead });
  }

  /** Download each selected pack whole and verify it (a few in parallel). */
  async readPacks(packs: Map<string, number>, progress?: Progress, concurrency = readConcurrency(this.repo)): Promise<Finding[]> {
    const out: Finding[] = [];
    let done = 0;
    progress?.(0, packs.size);
    // Packs are verified whole on worker threads (one per core); this thread only downloads.
    const pool = new OpenPool(this.repo.key, readWorkers(this.repo, concurrency), this.repo.memory.holdFreedMemory);
    const { ids, ring, ahead } = this.reading?.packs === packs ? this.reading : this.readAhead(packs, concurrency);
    this.reading = null;
    try {
      await mapLimit(
        ids.map((_, i) => i),
        concurrency,
        async (i) => {
          const id = ids[i]!;
          try {
            this.signal?.throwIfAborted();
            const problem = await verifyPack(this.repo, id, this.index.packBlobs(id) ?? [], packs.get(id)!, pool, ring, ahead.take(i));
            if (problem) out.push(error('read-data', problem, { pack: id }));
            progress?.(++done, packs.size);
          } finally {
            ahead.release(i);
          }
        },
      );
    } finally {
      await pool.close();
    }
    return out;
  }
}
