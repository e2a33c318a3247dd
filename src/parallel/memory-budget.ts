/**
 * The memory budget: how many worker threads, pack buffers and packs in flight fit the memory
 * this process may use. The limit is the container's (cgroup v2 `memory.max`, cgroup v1
 * `memory.limit_in_bytes`, the lowest along our cgroup's path), unless the caller names one
 * (library option `memoryLimit`, CLI `--memory-limit` / RESTIC_TS_MEMORY_LIMIT). Without a
 * limit, or a generous one, everything stays at full speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MiB = 1024 * 1024;
/** A cgroup "limit" at or above this means none (v1 reports 2^63 rounded down to a page). */
const NO_LIMIT = 2 ** 60;
/** Limits at or above this leave every default as it is. */
const ROOMY = 1024 * MiB;
/** What the main thread needs besides the budgeted parts: Node, WASM modules, heap, index. */
const BASE = 72 * MiB;
/** One worker thread: its V8 isolate plus its own WASM instances (libsodium, zstd). */
const WORKER = 24 * MiB;

export interface MemoryBudget {
  /** Bytes this process may use, or null when nothing limits it. */
  readonly limit: number | null;
  /** Whether the defaults are cut to fit the limit. */
  readonly tight: boolean;
  /** Worker threads for pack work (restore, check --read-data); 0 on the tightest budgets (this thread does it). */
  workers(cores?: number): number;
  /**
   * Worker threads encoding a backup's blobs, from the default count: each also needs the
   * blob ring shared with the reader, so on the tightest budgets none (this thread encodes).
   */
  backupWorkers(defaultCount: number): number;
  /** Packs (or pack spans) read or uploaded at once, each with a buffer of up to a pack. */
  packsInFlight(defaultCount: number): number;
  /** Whether freed buffers may stay in the allocator (faster, but holds tens of MiB). */
  readonly holdFreedMemory: boolean;
  /** File-content blobs a restore plans before it writes them (bounds the plan's memory). */
  readonly restoreBatchBlobs: number;
  /** V8 limits for worker threads (a small young generation: their garbage is mostly buffers). */
  readonly workerLimits: { maxYoungGenerationSizeMb: number } | undefined;
}

/** Bytes from "128M", "1.5G", "134217728" (K/M/G/T suffixes, powers of 1024); null when malformed. */
export function parseMemorySize(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(s);
  if (!m) return null;
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  return n > 0 ? n : null;
}

function readLimitFile(file: string): number | null {
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    if (s === 'max') return null;
    const n = Number(s);
    return Number.isFinite(n) && n > 0 && n < NO_LIMIT ? n : null;
  } catch {
    return null;
  }
}

/** The lowest limit in `file` from `dir` up to `root` (a cgroup inherits its ancestors' limits). */
function lowestUpwards(root: string, rel: string, file: string): number | null {
  let best: number | null = null;
  let dir = path.join(root, rel);
  for (;;) {
    const n = readLimitFile(path.join(dir, file));
    if (n !== null && (best === null || n < best)) best = n;
    if (dir === root || !dir.startsWith(root)) return best;
    dir = path.dirname(dir);
  }
}

/**
 * The container's memory limit from /proc/self/cgroup: v2 `memory.max`, v1
 * `memory.limit_in_bytes`, looked up where the cgroup filesystems are usually mounted.
 */
export function containerMemoryLimit(procCgroup = '/proc/self/cgroup', fsRoot = '/sys/fs/cgroup'): number | null {
  let text: string;
  try {
    text = fs.readFileSync(procCgroup, 'utf8');
  } catch {
    return null;
  }
  let best: number | null = null;
  const take = (n: number | null) => {
    if (n !== null && (best === null || n < best)) best = n;
  };
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '') {
      take(lowestUpwards(fsRoot, m[2]!, 'memory.max'));
      take(lowestUpwards(path.join(fsRoot, 'unified'), m[2]!, 'memory.max'));
    } else if (m[1]!.split(',').includes('memory')) {
      take(lowestUpwards(path.join(fsRoot, 'memory'), m[2]!, 'memory.limit_in_bytes'));
    }
  }
  return best;
}

/** The limit in force: the caller's (a number, or null for "none"), else the container's. */
export function resolveMemoryLimit(explicit?: number | null): number | null {
  return explicit !== undefined ? explicit : containerMemoryLimit();
}

/** The budget for `limit` bytes (null: unlimited). */
export function memoryBudget(limit: number | null): MemoryBudget {
  const tight = limit !== null && limit < ROOMY;
  // What is left for workers and buffers after the main thread's share.
  const spare = tight ? Math.max(0, limit - BASE) : Infinity;
  return {
    limit,
    tight,
    holdFreedMemory: !tight,
    restoreBatchBlobs: tight ? 4_000 : 50_000,
    workerLimits: tight ? { maxYoungGenerationSizeMb: 4 } : undefined,
    workers(cores = os.availableParallelism()) {
      const n = Math.max(1, cores);
      if (!tight) return n;
      return Math.min(n, Math.floor(spare / (WORKER + 2 * 17 * MiB)));
    },
    backupWorkers(defaultCount: number) {
      if (!tight) return defaultCount;
      return Math.min(defaultCount, Math.floor(spare / (WORKER + 40 * MiB)));
    },
    packsInFlight(defaultCount: number) {
      if (!tight) return defaultCount;
      return Math.max(1, Math.min(defaultCount, Math.floor(spare / (32 * MiB))));
    },
  };
}
