/**
 * Whole packs downloaded while check's lock settles (restic writes its lock, waits 200 ms and
 * looks again): over a remote store that wait is worth tens of MiB of `--read-data`. Pack
 * files never change under their name (it is their SHA-256), so bytes fetched before the lock
 * is confirmed are as good as bytes fetched after; what read-data does not take is dropped.
 */
import type { Backend } from '../backends/backend.js';

export class EarlyPacks {
  /** Per pack, in download order: its listed size and bytes (null: failed or stopped). */
  private readonly loads = new Map<string, { size: number; data: Promise<Uint8Array | null> }>();
  private readonly stop = new AbortController();
  /** Ends the listing only (see endListing). */
  private readonly listing = new AbortController();
  private bytes = 0;

  private constructor(
    private readonly backend: Backend,
    private readonly maxBytes: number,
  ) {}

  /**
   * List the packs and download them in listing order, `concurrency` at a time, until
   * `maxBytes` are held. Returns at once; a failed listing or load just leaves those packs to
   * read-data.
   */
  static start(backend: Backend, maxBytes: number, concurrency: number, signal?: AbortSignal): EarlyPacks {
    const e = new EarlyPacks(backend, maxBytes);
    const stop = signal ? AbortSignal.any([signal, e.stop.signal]) : e.stop.signal;
    e.run(concurrency, stop).catch(() => undefined);
    return e;
  }

  private async run(concurrency: number, signal: AbortSignal): Promise<void> {
    const queue: Array<{ name: string; done: (d: Uint8Array | null) => void }> = [];
    let active = 0;
    // a few at a time, so the lock's own requests are not stuck behind the downloads
    const pump = (): void => {
      while (active < concurrency && queue.length) {
        const f = queue.shift()!;
        active++;
        const data = signal.aborted ? Promise.resolve(null) : this.backend.load({ type: 'pack', name: f.name }, 0, 0, { signal });
        void data
          .catch(() => null)
          .then((d) => {
            f.done(d);
            active--;
            pump();
          });
      }
    };
    try {
      for await (const f of this.backend.list('pack', { signal: AbortSignal.any([signal, this.listing.signal]) })) {
        // a store may go on listing a while after the signal (a batch of directories)
        if (this.listing.signal.aborted || this.bytes + f.size > this.maxBytes) break;
        this.bytes += f.size;
        let done!: (d: Uint8Array | null) => void;
        this.loads.set(f.name, { size: f.size, data: new Promise((resolve) => (done = resolve)) });
        queue.push({ name: f.name, done });
        pump();
      }
    } catch {
      // a failed or ended listing: the packs listed so far still download
    }
  }

  /** The packs started, in the order they download. */
  get ids(): string[] {
    return [...this.loads.keys()];
  }

  /** The pack's bytes if they were downloaded whole at `size`, else null: the caller reads it itself. Once per pack. */
  async take(id: string, size: number): Promise<Uint8Array | null> {
    const l = this.loads.get(id);
    if (!l) return null;
    this.loads.delete(id);
    const data = await l.data;
    return data && l.size === size && data.length === size ? data : null;
  }

  /**
   * The wait is over: list no further (packs not listed yet are read-data's own). Listing
   * costs a round trip per data/XX directory on some stores (SFTP), which the check repeats
   * under its lock anyway.
   */
  endListing(): void {
    this.listing.abort();
  }

  /** Stop downloading and drop what was not taken. */
  clear(): void {
    this.stop.abort();
    this.loads.clear();
  }
}
