/**
 * A few large buffers that pack readers reuse instead of allocating one per pack: a freed
 * multi-MiB buffer lingers until a garbage collection notices it, so allocating per pack
 * makes the resident size grow by tens of MiB per thread. Buffers travel to a worker and
 * come back with its answer.
 */
import type { Backend, CallOptions, Handle } from '../backends/backend.js';

/** Capacities are rounded up to this, so packs of similar sizes share buffers. */
const GRANULE = 4 << 20;

export class BufferRing {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers this ring made: only these may be handed back (and travel whole). */
  private readonly mine = new WeakSet<ArrayBuffer>();

  /** `keep`: how many idle buffers to hold on to (about the number of reads in flight). */
  constructor(private readonly keep: number) {}

  /** A view of `n` bytes at the start of a buffer this ring may get back later. */
  take(n: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const cap = this.free[i]!.byteLength;
      if (cap >= n && (best < 0 || cap < this.free[best]!.byteLength)) best = i;
    }
    if (best >= 0) return new Uint8Array(this.free.splice(best, 1)[0]!, 0, n);
    // None fits: drop the smallest idle one so the count stays bounded.
    if (this.free.length >= this.keep) {
      let small = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.byteLength < this.free[small]!.byteLength) small = i;
      this.free.splice(small, 1);
    }
    const cap = Math.max(GRANULE, Math.ceil(n / GRANULE) * GRANULE);
    const buf = Buffer.allocUnsafeSlow(cap).buffer as ArrayBuffer;
    this.mine.add(buf);
    return new Uint8Array(buf, 0, n);
  }

  /** The function that hands `view`'s buffer back to this ring, when it is one of ours. */
  giveBackFor(view: Uint8Array): ((buf: ArrayBuffer) => void) | undefined {
    if (view.byteOffset !== 0 || !this.mine.has(view.buffer as ArrayBuffer)) return undefined;
    // What comes back from a worker is a new ArrayBuffer object over the same memory.
    return (buf) => {
      if (this.free.length >= this.keep || buf.byteLength === 0) return;
      this.mine.add(buf);
      this.free.push(buf);
    };
  }
}

/** Read [offset, offset+length) of a file (to the end when length is 0) into a ring buffer when the backend can. */
export function loadRecycled(
  backend: Backend,
  h: Handle,
  offset: number,
  length: number,
  ring: BufferRing,
  opts?: CallOptions,
): Promise<Uint8Array> {
  if (backend.loadInto) return backend.loadInto(h, offset, length, (n) => ring.take(n), opts);
  return backend.load(h, offset, length, opts);
}
