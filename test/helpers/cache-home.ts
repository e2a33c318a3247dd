import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * vitest globalSetup: the caches of restic-ts and restic (both follow XDG_CACHE_HOME) go to a
 * directory of this run, removed at the end, instead of the user's ~/.cache.
 */
export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-test-cache-'));
  process.env.XDG_CACHE_HOME = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
