/**
 * The cache's base directory and its per-repository directories, laid out as restic's
 * (internal/backend/cache): `<base>/CACHEDIR.TAG`, `<base>/<repository ID>/{version,index,
 * snapshots,data}`; a directory's mtime is when a process last opened it.
 */
import fs from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errCode } from '../errors.js';

/** restic's cache layout version; a newer one is refused (written by a future restic). */
export const CACHE_VERSION = 1;
/** restic's default for "old": 30 days unused. */
const MAX_CACHE_AGE_DAYS = 30;
const CACHEDIR_TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n';

/**
 * The default base: RESTIC_CACHE_DIR, else `restic-ts` in the user's cache directory
 * (XDG_CACHE_HOME, ~/.cache; ~/Library/Caches on macOS; LOCALAPPDATA on Windows).
 * Not restic's own `restic` directory: see the README ("Local cache").
 */
export function defaultCacheBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESTIC_CACHE_DIR) return env.RESTIC_CACHE_DIR;
  return path.join(userCacheDir(env), 'restic-ts');
}

function userCacheDir(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32' && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  const home = env.HOME || os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches');
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return env.XDG_CACHE_HOME;
  return path.join(home, '.cache');
}

/** Create the base with its CACHEDIR.TAG (backup tools skip such directories). */
export async function prepareBase(base: string): Promise<void> {
  await fs.mkdir(base, { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(path.join(base, 'CACHEDIR.TAG'), CACHEDIR_TAG, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if (errCode(err) !== 'EEXIST') throw err;
  }
}

export interface CacheDirInfo {
  name: string;
  path: string;
  /** Last use (the directory's mtime). */
  mtime: Date;
}

/** Repository cache directories in `base` (64-hex names, and restic's check caches). */
export async function listCacheDirs(base: string): Promise<CacheDirInfo[]> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(base, { withFileTypes: true });
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: CacheDirInfo[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !/^[0-9a-fA-F]{64}$|^restic-check-cache-[0-9]+$/.test(e.name)) continue;
    const p = path.join(base, e.name);
    out.push({ name: e.name, path: p, mtime: (await fs.stat(p)).mtime });
  }
  return out.sort((a, b) => a.mtime.getTime() - b.mtime.getTime());
}

export function isOld(mtime: Date, maxAgeDays: number, now = Date.now()): boolean {
  return mtime.getTime() < now - maxAgeDays * 24 * 3600 * 1000;
}

/** Cache directories unused for more than `maxAgeDays`. */
export async function oldCacheDirs(base: string, maxAgeDays = MAX_CACHE_AGE_DAYS): Promise<CacheDirInfo[]> {
  return (await listCacheDirs(base)).filter((d) => isOld(d.mtime, maxAgeDays));
}

/** Total size of the files under `dir`. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}
