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
    const queue: Array<{ name: string; size: number; done: (d: Uint8Array | null) => void }> = [];
    try {
      for await (const f of this.backend.list('pack', { signal })) {
        if (this.bytes + f.size > this.maxBytes) break;
        this.bytes += f.size;
        let done!: (d: Uint8Array | null) => void;
        const data = new Promise<Uint8Array | null>((resolve) => (done = resolve));
        this.loads.set(f.name, { size: f.size, data });
        queue.push({ name: f.name, size: f.size, done });
      }
    } catch {
      // a failed listing: the packs listed so far still download (or settle as null when stopped)
    }
    // a few at a time, so the lock's own requests are not stuck behind the downloads
    const next = async (): Promise<void> => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        f.done(signal.aborted ? null : await this.backend.load({ type: 'pack', name: f.name }, 0, 0, { signal }).catch(() => null));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, next));
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

  /** Stop downloading and drop what was not taken. */
  clear(): void {
    this.stop.abort();
    this.loads.clear();
  }
}
