/**
 * Pieces (pack spans for restore, whole packs for `check --read-data`) loaded ahead of their
 * turn. A few are processed at a time; without this the next load starts only when one of
 * them is done, and over a remote store every such start waits a round trip plus the
 * transfer while the workers idle. Loads run ahead up to a byte bound; with no bound, each
 * piece is loaded when its turn comes.
 */
export class ReadAhead {
  private readonly started = new Map<number, Promise<Uint8Array>>();
  private next = 0;
  /** Bytes of pieces started and not yet released. */
  private held = 0;

  constructor(
    private readonly lengths: readonly number[],
    private readonly load: (i: number) => Promise<Uint8Array>,
    /** Bytes that may be loaded ahead of the pieces being processed (0: none). */
    private readonly aheadBytes: number,
  ) {}

  /** Start the loads the bound allows before any piece is taken (e.g. while other work runs). */
  start(): void {
    this.fill(-1);
  }

  /** Piece i (its load started now unless it ran ahead); loads of later pieces start as the bound allows. */
  take(i: number): Promise<Uint8Array> {
    this.fill(i);
    const p = this.started.get(i)!;
    this.started.delete(i);
    return p;
  }

  /** Piece i is done with: its bytes no longer count against the bound. */
  release(i: number): void {
    this.held -= this.lengths[i]!;
    this.fill(-1);
  }

  /** Start every piece up to `upTo`, then later ones while they fit the bound. */
  private fill(upTo: number): void {
    while (this.next < this.lengths.length) {
      const n = this.lengths[this.next]!;
      if (this.next > upTo && this.held + n > this.aheadBytes) break;
      const p = this.load(this.next);
      // A load that fails ahead of its turn is reported when its piece is taken.
      p.catch(() => undefined);
      this.started.set(this.next++, p);
      this.held += n;
    }
  }
}
