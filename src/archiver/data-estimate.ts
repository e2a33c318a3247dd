/**
 * A quick, bounded look at how much file data backup targets hold: enough to decide, before
 * the repository is open, whether starting blob workers early will pay.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Whether the regular files under `targets` hold at least `bytes`, looking at no more than
 * `maxEntries` directory entries (excludes are not applied: an estimate). Unreadable entries
 * count as empty.
 */
export function targetsHoldAtLeast(targets: string[], bytes: number, maxEntries = 20_000): boolean {
  let total = 0;
  let seen = 0;
  const dirs: string[] = [];
  const look = (p: string): void => {
    seen++;
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st?.isFile()) total += st.size;
    else if (st?.isDirectory()) dirs.push(p);
  };
  for (const t of targets) look(t);
  while (total < bytes && seen < maxEntries && dirs.length) {
    const dir = dirs.shift()!;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (total >= bytes || seen >= maxEntries) break;
      try {
        look(path.join(dir, n));
      } catch {
        // unreadable: counts as empty
      }
    }
  }
  return total >= bytes;
}
