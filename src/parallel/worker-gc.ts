/**
 * Prompt collection of garbage buffers on worker threads: OpenPool's decoded blobs and
 * BlobPool's AES outputs are fresh multi-KiB buffers that only a garbage collection frees,
 * and a worker allocates hardly any JS objects, so V8 would otherwise wait until tens of MiB
 * of them piled up per thread (a 45 MiB malloc arena per BlobPool worker in a backup). A
 * young-generation collection every few MiB is cheap and keeps the resident size flat. Only
 * workers enable it; on the main thread noteGarbage does nothing.
 *
 * Exposing gc() sets a V8 flag for the whole process, so it happens only after the host opted
 * in (allowGcTuning; the CLI does): a library must not change its host process by default.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Plaintext bytes between collections. */
const EVERY = 4 << 20;

let collect: (() => void) | null = null;
let pending = 0;

type Gc = (opts?: { type: string }) => void;
let exposed: Gc | null | undefined;
let allowed = false;

/** Let restic-ts set V8's --expose-gc and collect garbage itself (process-wide; off by default). */
export function allowGcTuning(on = true): void {
  allowed = on;
}

/** Whether allowGcTuning() was called (workers are told, as they have their own module state). */
export function gcTuningAllowed(): boolean {
  return allowed;
}

/** V8's gc(), without --expose-gc on the command line; null where it cannot be had or is not allowed. */
function exposeGc(): Gc | null {
  if (!allowed) return null;
  if (exposed !== undefined) return exposed;
  try {
    v8.setFlagsFromString('--expose-gc');
    exposed = vm.runInNewContext('gc') as Gc;
  } catch {
    exposed = null; // not fatal: memory is then only freed later
  }
  return exposed;
}

/** A full collection, for the rare caller that must free a buffer now. */
export function fullGc(): (() => void) | null {
  const gc = exposeGc();
  return gc ? () => gc() : null;
}

/** A young-generation collection, for a caller that just dropped many short-lived buffers. */
export function minorGc(): (() => void) | null {
  const gc = exposeGc();
  return gc ? () => gc({ type: 'minor' }) : null;
}

/**
 * Collect garbage every few MiB when the host allowed it: in workers (told by the main thread),
 * and on the main thread too under a tight memory budget.
 */
export function enableWorkerGc(allowedByHost = allowed): void {
  allowed = allowedByHost;
  const gc = exposeGc();
  collect = gc ? () => gc({ type: 'minor' }) : null;
}

/** Account `bytes` of plaintext that just became garbage. */
export function noteGarbage(bytes: number): void {
  if (!collect) return;
  pending += bytes;
  if (pending < EVERY) return;
  pending = 0;
  collect();
}
