/**
 * A shared lock taken while the work already runs: restic's lock (look, write, wait 200 ms,
 * look again) overlaps reading the index, the parent's trees and the files instead of
 * preceding them, which saves most of a remote backup's fixed cost.
 */
import type { OperationOptions, Repository } from './repository.js';
import type { LockOptions, RepositoryLock } from './lock.js';
import { asAbortedError } from '../errors.js';

/** The lock was taken, but an index file read before it is gone: the work is redone under it. */
class StaleIndex extends Error {}

/**
 * Run `run` while a shared lock is taken. Writes (packs, index and snapshot files) wait until
 * the lock is held and every index file `run` loaded is still listed, which makes that index
 * as good as one loaded under the lock; if one is gone (an exclusive prune finished
 * meanwhile), `run` is redone under the lock from a fresh load. A refused lock is the error
 * reported, and nothing was written. `run` must end by awaiting repo.writesAllowed() if it
 * may write nothing (it then holds the lock). `signal` (the lock's) also stops `run`.
 *
 * @example
 * ```ts
 * const id = await runWithOverlappedLock(repo, async (signal) => {
 *   const r = await new Archiver(repo, { signal }).run(['/srv']);
 *   await repo.writesAllowed();
 *   return r.snapshotId;
 * });
 * ```
 */
export async function runWithOverlappedLock<T>(
  repo: Repository,
  run: (signal: AbortSignal | undefined) => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  let written!: () => void;
  const lockWritten = new Promise<void>((resolve) => (written = resolve));
  const locking = repo.acquireLock(false, {
    ...opts,
    onWritten: (id) => {
      opts.onWritten?.(id);
      written();
    },
  });
  const ready = locking.then(async (lock) => {
    if (!(await repo.indexStillListed())) throw new StaleIndex();
    return lock;
  });
  repo.holdWrites(ready);
  // a refused lock or a stale index stops the first run at once, not at its first write
  const stop = new AbortController();
  ready.catch((e: unknown) => stop.abort(e));
  let outcome: { result: T } | { err: unknown } = { err: undefined };
  try {
    // the work starts once the lock file is out (its CPU would delay the lock's own requests);
    // not at all when the first look found a conflict
    const out = await Promise.race([
      lockWritten.then(() => true),
      locking.then(
        () => true,
        () => false,
      ),
    ]);
    if (out) outcome = { result: await run(opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal) };
  } catch (err) {
    await repo.abandonWrites().catch(() => undefined);
    outcome = { err };
  }
  let lock: RepositoryLock;
  let stale: boolean;
  try {
    lock = await locking; // refused: the cause to report (nothing was written)
    stale = await ready.then(
      () => false,
      async (e: unknown) => {
        if (e instanceof StaleIndex) return true;
        await lock.release().catch(() => undefined);
        throw e;
      },
    );
  } finally {
    repo.releaseWrites(); // settled either way: later writes on this repository go ahead
  }
  if (!stale) return runUnderLock(repo, lock, async () => ('result' in outcome ? outcome.result : Promise.reject(outcome.err)));
  repo.forgetLoaded();
  return runUnderLock(repo, lock, () => run(opts.signal));
}

/**
 * An operation's `run` under its shared lock as `how` asks (OperationOptions.lock): a lock of
 * its own is taken overlapped (runWithOverlappedLock), so `run` reads while it settles and
 * must await repo.writesAllowed() before it writes (to the repository or, for a restore, to
 * the target); without one, `run` simply runs.
 */
export async function runOverlapped<T>(
  repo: Repository,
  what: string,
  how: OperationOptions | undefined,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  if (!repo.takesLock(what, false, how)) return repo.runLocked(what, false, how, () => run(how?.signal));
  try {
    return await runWithOverlappedLock(repo, run, { ...how?.lockOptions, signal: how?.signal });
  } catch (err) {
    throw asAbortedError(err, how?.signal, what);
  }
}

/**
 * Run `fn` holding `lock`, then release it, also when `fn` fails: uploads settle and workers
 * remove their temp files first, and `fn`'s error is the one reported.
 */
export async function runUnderLock<T>(repo: Repository, lock: RepositoryLock, fn: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    await repo.abandonWrites().catch(() => undefined);
    await lock.release().catch(() => undefined);
    throw err;
  }
  await lock.release();
  return result;
}
