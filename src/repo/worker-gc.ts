/**
 * Prompt collection of decoded blobs on OpenPool's workers. Each blob's plaintext is a fresh
 * multi-KiB buffer that only a garbage collection frees, and a worker allocates hardly any
 * JS objects, so V8 would otherwise wait until tens of MiB of dead plaintext piled up per
 * thread. A young-generation collection every few MiB of plaintext is cheap and keeps the
 * resident size flat. Only workers enable it; on the main thread noteGarbage does nothing.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Plaintext bytes between collections. */
const EVERY = 4 << 20;

let collect: (() => void) | null = null;
let pending = 0;

export function enableWorkerGc(): void {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as (opts?: { type: string }) => void;
    collect = () => gc({ type: 'minor' });
  } catch {
    collect = null; // not fatal: memory is then only freed later
  }
}

/** Account `bytes` of plaintext that just became garbage. */
export function noteGarbage(bytes: number): void {
  if (!collect) return;
  pending += bytes;
  if (pending < EVERY) return;
  pending = 0;
  collect();
}
