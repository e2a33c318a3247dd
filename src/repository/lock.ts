/**
 * Lock files (`locks/<id>`) as restic 0.14 writes and judges them. A non-exclusive lock
 * conflicts only with an exclusive one; an exclusive lock conflicts with any. A holder
 * rewrites its lock every 5 minutes so others can tell a live holder from a stale one.
 *
 * Beyond restic 0.14: a lock attempt blocked only by stale locks removes them (and reports
 * each through `onEvent`), so unattended runs never need `unlock`; `retryMs` waits for
 * live holders with restic 0.16's backoff (5 s doubling up to 60 s).
 */
import os from 'node:os';
import type { FileType } from '../backends/backend.js';
import { AbortedError, LockError, throwIfAborted } from '../errors.js';
import { nowGoTime } from '../go/time.js';
import { type LockInfo, conflicts, decodeLock, describeLock, encodeLock, lockTimeMs } from '../format/lock-file.js';
import { formatGoDuration } from '../go/duration.js';
import { safeUsername } from '../format/key.js';

export function newLockInfo(exclusive: boolean): LockInfo {
  return {
    time: nowGoTime(),
    exclusive,
    hostname: os.hostname(),
    username: safeUsername(),
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
}

/**
 * restic's staleTimeout.
 *
 * @example
 * ```ts
 * const old = Date.now() - Date.parse(lock.time) > STALE_TIMEOUT_MS;
 * ```
 */
export const STALE_TIMEOUT_MS = 30 * 60 * 1000;
/**
 * restic's refreshInterval.
 *
 * @example
 * ```ts
 * const lock = await repo.acquireLock(false, { refreshIntervalMs: REFRESH_INTERVAL_MS / 5 });
 * ```
 */
export const REFRESH_INTERVAL_MS = 5 * 60 * 1000;
/** restic's waitBeforeLockCheck: time for a concurrent writer's lock to become visible. */
const WAIT_BEFORE_LOCK_CHECK_MS = 200;
const RETRY_START_MS = 5_000;
const RETRY_MAX_MS = 60_000;

/**
 * restic's Stale(): older than 30 minutes, or written on this host by a process that is
 * gone. Locks of other hosts younger than 30 minutes are never stale. restic probes the
 * process with SIGHUP; signal 0 asks the same question without disturbing it (and a
 * process we may not signal, EPERM, is alive).
 *
 * @example
 * ```ts
 * for (const { id, lock } of await repo.listLocks()) if (isLockStale(lock)) console.log('stale lock', id);
 * ```
 */
export function isStale(l: LockInfo, now = Date.now(), hostname = os.hostname()): boolean {
  const t = lockTimeMs(l);
  if (Number.isNaN(t) || now - t > STALE_TIMEOUT_MS) return true;
  if (l.hostname !== hostname) return false;
  return !processExists(l.pid);
}

function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** restic's "unable to create lock in backend: repository is already locked …". */
function conflictError(id: string, l: LockInfo, now = Date.now()): LockError {
  const how = l.exclusive ? 'exclusively ' : '';
  return new LockError(`unable to create lock in backend: repository is already locked ${how}by ${describeLock(id, l, now)}`);
}

// ---- taking, refreshing and releasing a lock ----

/** What lock code needs from a repository (kept small so it stays testable). */
export interface LockStore {
  saveUnpacked(type: 'lock', json: Uint8Array): Promise<string>;
  loadUnpacked(type: 'lock', id: string): Promise<Uint8Array>;
  listIds(type: FileType): AsyncIterable<string>;
  removeFile(type: 'lock', id: string): Promise<void>;
}

/** What happens while a lock is taken and held, for logs (LockOptions.onEvent). */
export type LockEvent =
  | { type: 'stale-lock-removed'; id: string; lock: LockInfo; message: string }
  | { type: 'waiting'; id: string; lock: LockInfo; retryInMs: number; message: string }
  | { type: 'refreshed'; id: string; previousId: string }
  | { type: 'refresh-failed'; error: unknown; message: string };

/** How a lock is taken and held. */
export interface LockOptions {
  /** Keep trying this long (ms) while a live process holds a conflicting lock (`--retry-lock`). */
  retryMs?: number;
  /** Remove conflicting locks that are stale instead of failing (default true). */
  removeStale?: boolean;
  /** Told about removed stale locks, waits, refreshes and failed refreshes. */
  onEvent?: (e: LockEvent) => void;
  /** How often the lock file is rewritten (default restic's 5 minutes). */
  refreshIntervalMs?: number;
  /** Stops waiting for the lock (AbortedError). */
  signal?: AbortSignal;
  /** Called once the lock file is written, before the wait and the second look. */
  onWritten?: (id: string) => void;
}

/** Locks held by this process; a signal handler releases them before exiting. */
const heldLocks = new Set<RepositoryLock>();

/**
 * restic probes a lock holder on its own host with SIGHUP, which would kill a Node process
 * with the default disposition. After ignoreSighupWhileLocked() (the CLI calls it), we ignore
 * SIGHUP while we hold a lock, as restic does; a library installs no handler by default.
 */
const ignoreSighup = () => {};
let sighupGuard = false;

/** Ignore SIGHUP while this process holds a lock (process-wide; opt-in). */
export function ignoreSighupWhileLocked(on = true): void {
  sighupGuard = on;
}

/**
 * A lock file held by this process, refreshed every 5 minutes until released.
 *
 * @example
 * ```ts
 * const lock = await repo.acquireLock(true); // exclusive
 * try {
 *   await prune(repo, { lock });
 *   await forget(repo, { policy: { last: 7 }, lock });
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export class RepositoryLock {
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> = Promise.resolve();
  private released = false;

  private constructor(
    private readonly store: LockStore,
    public id: string,
    public info: LockInfo,
    private readonly opts: LockOptions,
  ) {}

  get exclusive(): boolean {
    return this.info.exclusive;
  }

  /** Take a lock as restic does: look, write, wait 200 ms, look again. */
  static async acquire(store: LockStore, exclusive: boolean, opts: LockOptions = {}): Promise<RepositoryLock> {
    const deadline = Date.now() + Math.max(0, opts.retryMs ?? 0);
    let delay = RETRY_START_MS;
    for (;;) {
      try {
        return await RepositoryLock.tryOnce(store, exclusive, opts);
      } catch (err) {
        const remaining = deadline - Date.now();
        if (!(err instanceof HeldLockError) || remaining <= 0) throw err instanceof HeldLockError ? err.error : err;
        const wait = Math.min(delay, remaining);
        opts.onEvent?.({
          type: 'waiting',
          id: err.id,
          lock: err.lock,
          retryInMs: wait,
          message: `repo already locked, waiting up to ${formatGoDuration(remaining)} for the lock`,
        });
        await sleep(wait, opts.signal);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  private static async tryOnce(store: LockStore, exclusive: boolean, opts: LockOptions): Promise<RepositoryLock> {
    await clearConflicts(store, exclusive, null, opts);
    const info = newLockInfo(exclusive);
    const id = await store.saveUnpacked('lock', encodeLock(info));
    const lock = new RepositoryLock(store, id, info, opts);
    lock.hold();
    opts.onWritten?.(id);
    try {
      await sleep(WAIT_BEFORE_LOCK_CHECK_MS, opts.signal);
      await clearConflicts(store, exclusive, id, opts);
    } catch (err) {
      // the cause is reported, not a failed clean-up (a store that went away fails both)
      await lock.release().catch(() => undefined);
      throw err;
    }
    lock.startRefresh();
    return lock;
  }

  private hold(): void {
    if (heldLocks.size === 0 && sighupGuard) process.on('SIGHUP', ignoreSighup);
    heldLocks.add(this);
  }

  private startRefresh(): void {
    this.timer = setInterval(() => {
      this.refresh().catch(() => {}); // reported through onEvent; retried at the next tick
    }, this.opts.refreshIntervalMs ?? REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Write a new lock file with the current time, then remove the previous one. */
  refresh(): Promise<void> {
    const run = async () => {
      if (this.released) return;
      try {
        const info = { ...this.info, time: nowGoTime() };
        const id = await this.store.saveUnpacked('lock', encodeLock(info));
        const previousId = this.id;
        this.id = id;
        this.info = info;
        await this.store.removeFile('lock', previousId);
        this.opts.onEvent?.({ type: 'refreshed', id, previousId });
      } catch (error) {
        this.opts.onEvent?.({ type: 'refresh-failed', error, message: `unable to refresh lock: ${(error as Error)?.message ?? error}` });
        throw error;
      }
    };
    const p = this.pending.then(run);
    this.pending = p.catch(() => {});
    return p;
  }

  /** Whether release() was called. */
  get isReleased(): boolean {
    return this.released;
  }

  /** Stop refreshing and delete the lock file (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pending;
    heldLocks.delete(this);
    if (heldLocks.size === 0) process.off('SIGHUP', ignoreSighup);
    await this.store.removeFile('lock', this.id);
  }

  /** Release every lock this process holds (used when a signal ends the process). */
  static async releaseAll(): Promise<void> {
    await Promise.allSettled([...heldLocks].map((l) => l.release()));
  }

  static get heldCount(): number {
    return heldLocks.size;
  }
}

/** A live conflicting lock, carried so a retry loop can wait for it. */
class HeldLockError extends Error {
  constructor(
    readonly id: string,
    readonly lock: LockInfo,
    readonly error: LockError,
  ) {
    super(error.message);
  }
}

/**
 * Look at every other lock; remove conflicting stale ones (when allowed) and fail on the
 * first live conflict. Unreadable locks are ignored, as restic 0.14 does (one may be
 * half-deleted by its owner).
 */
async function clearConflicts(store: LockStore, exclusive: boolean, own: string | null, opts: LockOptions): Promise<void> {
  const ids: string[] = [];
  for await (const id of store.listIds('lock')) if (id !== own) ids.push(id);
  for (const id of ids) {
    let l: LockInfo;
    try {
      l = decodeLock(await store.loadUnpacked('lock', id));
    } catch {
      continue;
    }
    if (!conflicts(exclusive, l)) continue;
    const now = Date.now();
    if ((opts.removeStale ?? true) && isStale(l, now)) {
      await store.removeFile('lock', id);
      opts.onEvent?.({ type: 'stale-lock-removed', id, lock: l, message: `removed stale lock held by ${describeLock(id, l, now)}` });
      continue;
    }
    throw new HeldLockError(id, l, conflictError(id, l, now));
  }
}

/** restic's RemoveStaleLocks (`unlock`): IDs of the removed locks. */
export async function removeStaleLocks(store: LockStore): Promise<string[]> {
  const removed: string[] = [];
  for await (const id of store.listIds('lock')) {
    let l: LockInfo;
    try {
      l = decodeLock(await store.loadUnpacked('lock', id));
    } catch {
      continue; // restic ignores locks it cannot load
    }
    if (!isStale(l)) continue;
    await store.removeFile('lock', id);
    removed.push(id);
  }
  return removed;
}

/** restic's RemoveAllLocks (`unlock --remove-all`): IDs of the removed locks. */
export async function removeAllLocks(store: LockStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const id of store.listIds('lock')) ids.push(id);
  for (const id of ids) await store.removeFile('lock', id);
  return ids;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal, 'taking the lock');
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('taking the lock cancelled', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
