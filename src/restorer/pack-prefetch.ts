/**
 * The first packs a restore will read, fetched while its lock settles: restic writes its lock,
 * waits 200 ms and looks again, and over a remote store that wait is worth a few packs. The
 * target is not touched until the lock is confirmed; this only reads.
 */
import type { Repository } from '../repository/repository.js';

interface Fetched {
  start: number;
  end: number;
  data: Promise<Uint8Array | null>;
}

/** How much a prefetch may hold: at most `packs` packs and `bytes` bytes. */
export interface PrefetchBounds {
  packs: number;
  bytes: number;
}

export class PackPrefetch {
  private readonly fetched = new Map<string, Fetched>();
  private bytes = 0;
  private readonly stop = new AbortController();

  private constructor(
    private readonly repo: Repository,
    private readonly bounds: PrefetchBounds,
  ) {}

  /**
   * Walk the trees under `treeId` in the restorer's order (depth first, entries in tree order)
   * and fetch the blob region of each pack as its first content blob is met, until the bounds
   * are reached. Returns at once; the walk and the fetches go on in the background.
   */
  static start(repo: Repository, treeId: string, bounds: PrefetchBounds, signal?: AbortSignal): PackPrefetch {
    const p = new PackPrefetch(repo, bounds);
    const stop = signal ? AbortSignal.any([signal, p.stop.signal]) : p.stop.signal;
    p.walk(treeId, stop).catch(() => undefined); // the restore reads for itself what is missing
    return p;
  }

  private full(): boolean {
    return this.fetched.size >= this.bounds.packs || this.bytes >= this.bounds.bytes;
  }

  /** False once the bounds are reached: the walk stops. */
  private async walk(treeId: string, signal: AbortSignal): Promise<boolean> {
    for (const node of await this.repo.loadTree(treeId)) {
      if (signal.aborted) return false;
      if (node.type === 'dir' && node.subtree) {
        if (!(await this.walk(node.subtree, signal))) return false;
      } else if (node.type === 'file') {
        for (const id of node.content ?? []) {
          const loc = this.repo.index.lookup('data', id)[0];
          if (loc && !this.fetched.has(loc.packId) && !this.fetchPack(loc.packId, signal)) return false;
        }
      }
    }
    return true;
  }

  /** Fetch the region of the pack that holds its blobs (the restorer reads within it); false when it would not fit. */
  private fetchPack(packId: string, signal: AbortSignal): boolean {
    if (this.full()) return false;
    const blobs = this.repo.index.packBlobs(packId);
    if (!blobs?.length) return true;
    let start = Infinity;
    let end = 0;
    for (let i = 0; i < blobs.length; i++) {
      start = Math.min(start, blobs.offset(i));
      end = Math.max(end, blobs.offset(i) + blobs.storedLength(i));
    }
    if (this.bytes + end - start > this.bounds.bytes) return false;
    this.bytes += end - start;
    // on failure the restore reads the pack itself and reports the error
    const data = this.repo.backend.load({ type: 'pack', name: packId }, start, end - start, { signal }).catch(() => null);
    this.fetched.set(packId, { start, end, data });
    return true;
  }

  /**
   * The bytes [start, start+length) of a pack when they were fetched (each pack is handed out
   * once), else null: the caller reads them itself.
   */
  async take(packId: string, start: number, length: number): Promise<Uint8Array | null> {
    const f = this.fetched.get(packId);
    if (!f || start < f.start || start + length > f.end) return null;
    this.fetched.delete(packId);
    const data = await f.data;
    if (!data || data.length !== f.end - f.start) return null;
    return start === f.start && length === data.length ? data : data.subarray(start - f.start, start - f.start + length);
  }

  /** Stop fetching and drop what was not taken. */
  clear(): void {
    this.stop.abort();
    this.fetched.clear();
  }
}
