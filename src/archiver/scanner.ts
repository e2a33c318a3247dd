/**
 * restic's backup scanner: walks the targets ahead of the archiver (same target tree, same
 * excludes) counting files, directories and bytes, so progress can show totals, a percentage
 * and the time left. It only stats and lists, in slices of a few milliseconds: on its own
 * between turns of the event loop, and inside the archiver's progress checks (slice()), so it
 * keeps up even while the archiver does not wait for anything.
 */
import type { ArchiverFs } from './fs.js';
import type { Excluder } from './exclude.js';
import type { TargetTree } from './targets.js';

/** restic's ScanStats. */
export interface ScanStats {
  files: number;
  dirs: number;
  others: number;
  bytes: number;
}

/** Work done per slice before the event loop gets a turn. */
const SLICE_MS = 4;

interface Pending {
  path: Buffer;
  explicit: boolean;
  device?: bigint;
}

/** A directory being listed: its entries are visited one by one (no path per entry held). */
interface Listing {
  dir: Buffer;
  names: Buffer[];
  next: number;
  device?: bigint;
}

export class BackupScanner {
  readonly stats: ScanStats = { files: 0, dirs: 0, others: 0, bytes: 0 };
  done = false;
  private stopped = false;
  private readonly started = Date.now();
  private targets: Pending[] = [];
  private nextTarget = 0;
  private readonly stack: Listing[] = [];

  constructor(
    private readonly fs: ArchiverFs,
    private readonly excluder: Excluder,
    private readonly oneFileSystem: boolean,
    private readonly onDone?: (stats: ScanStats, seconds: number) => void,
  ) {}

  /** Scan in the background; the promise never rejects (unreadable items are the archiver's to report). */
  start(tree: TargetTree): Promise<void> {
    collectTargets(tree, this.targets);
    return this.run().catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    while (!this.slice(Date.now() + SLICE_MS)) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Scan on until `until` (a Date.now() value); true once the scan is done or stopped. */
  slice(until: number): boolean {
    if (this.done) return true;
    const stack = this.stack;
    for (let i = 0; !this.stopped && (this.nextTarget < this.targets.length || stack.length); i++) {
      if (!(i & 63) && Date.now() >= until) return false;
      const top = stack[stack.length - 1];
      if (!top) this.step(this.targets[this.nextTarget++]!, stack);
      else if (top.next >= top.names.length) stack.pop();
      else this.step({ path: Buffer.concat([top.dir, SLASH, top.names[top.next++]!]), explicit: false, device: top.device }, stack);
    }
    this.done = true;
    if (!this.stopped) this.onDone?.(this.stats, (Date.now() - this.started) / 1000);
    return true;
  }

  private step(item: Pending, stack: Listing[]): void {
    let st;
    try {
      st = this.fs.lstat(item.path);
    } catch {
      return;
    }
    const device = item.device ?? (this.oneFileSystem ? st.dev : undefined);
    if (!item.explicit && this.excluder.active && this.excluder.excluded(item.path, st, device)) return;
    if (st.isFile()) {
      this.stats.files++;
      this.stats.bytes += Number(st.size);
    } else if (st.isDirectory()) {
      let names: Buffer[];
      try {
        names = this.fs.readdir(item.path);
      } catch {
        return;
      }
      stack.push({ dir: item.path, names, next: 0, device });
      this.stats.dirs++;
    } else {
      this.stats.others++;
    }
  }
}

const SLASH = Buffer.from('/');

/** The leaves of the target tree (the targets themselves), in the archiver's order. */
function collectTargets(t: TargetTree, out: Pending[]): void {
  for (const child of t.children.values()) {
    if (child.path) out.push({ path: child.path, explicit: true });
    else collectTargets(child, out);
  }
}
