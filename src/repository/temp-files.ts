/**
 * Temp-file hygiene: files a killed writer (restic or restic-ts) left before renaming them
 * into place — `data/XX/pack-tmp-*`, `locks/<id>-tmp-*`, … (backend.ts isTempName). They are
 * no part of the repository; `check` lists them, backup and prune remove those older than a
 * safe age (a live writer renames or touches its temp files within seconds).
 */
import type { Backend, TempFileInfo } from '../backends/backend.js';

/** Temp files older than this are no longer being written by anyone. */
export const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

/** Every temp file in the repository (none when the backend cannot list them). */
export async function listTempFiles(backend: Backend): Promise<TempFileInfo[]> {
  const out: TempFileInfo[] = [];
  if (!backend.listTempFiles) return out;
  for await (const t of backend.listTempFiles()) out.push(t);
  return out;
}

/**
 * Remove temp files last modified more than `minAgeMs` ago. Best effort: a file that cannot
 * be removed is left for the next run. Returns what was removed.
 */
export async function removeStaleTempFiles(
  backend: Backend,
  minAgeMs = STALE_TEMP_AGE_MS,
  now = Date.now(),
): Promise<{ files: number; bytes: number }> {
  const done = { files: 0, bytes: 0 };
  if (!backend.removeTempFile) return done;
  for (const t of await listTempFiles(backend)) {
    if (now - t.mtimeMs < minAgeMs) continue;
    try {
      await backend.removeTempFile(t.path);
      done.files++;
      done.bytes += t.size;
    } catch {
      /* left for the next run */
    }
  }
  return done;
}
