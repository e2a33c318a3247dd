import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temporary directory; remove it with the returned cleanup. */
export function tempDir(prefix = 'restic-ts-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Remove a directory tree even where restic made files read-only. */
export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
