/**
 * Keep freed buffer memory in glibc's arenas instead of handing it back to the kernel.
 *
 * node:crypto (every AES update) and the WASM glue give each piece of plaintext a fresh
 * malloc'd buffer that only a garbage collection frees, so tens of MiB are freed at once.
 * With glibc's default thresholds the arena top is then trimmed and the next pieces fault
 * the same pages in again: `check --read-data` of 1 GiB took 164k page faults and ~0.6 s of
 * system time for nothing. glibc raises its mmap threshold (and sets the trim threshold to
 * twice that) when it frees an mmapped chunk bigger than the current threshold, up to 32 MiB;
 * allocating and freeing one such buffer once per process has the effect of
 * GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…:glibc.malloc.trim_threshold=… without
 * needing the variable set before Node starts. Elsewhere it costs one small collection.
 */
import { fullGc } from './worker-gc.js';

/** Just under glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit), chunk header included. */
const PROBE = 31 << 20;

let done = false;

export function raiseMallocThresholds(): void {
  if (done || process.platform !== 'linux') return;
  const gc = fullGc();
  if (!gc) return; // the host did not allow gc tuning (allowGcTuning)
  done = true;
  // Never touched: calloc maps it zero-filled, so it costs address space, not memory. It is
  // garbage at once; the collection frees it.
  void new ArrayBuffer(PROBE);
  gc();
}
