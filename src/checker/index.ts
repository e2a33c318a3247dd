/**
 * `check(repo, opts)`: every phase of restic's check in order, reporting findings as they
 * are made, under restic's exclusive lock unless the caller passes its own (or `lock: false`).
 */
import { checkRepository, type OperationOptions, type Repository } from '../repository/repository.js';
import { Checker, type Progress, READ_AHEAD_BYTES, prestartReadData, readConcurrency } from './checker.js';
import { EarlyPacks } from './early-packs.js';
import { discardSpare } from '../parallel/open-pool.js';
import type { Finding } from './findings.js';
import { type Subset, parseSubset, selectPacks } from './subset.js';

export { Checker } from './checker.js';
export { type Finding, type FindingKind } from './findings.js';
export { parseSubset, selectPacks } from './subset.js';
export { verifyPack } from './verify-pack.js';

/** check()'s phases, in order. */
export type CheckPhase = 'load-index' | 'packs' | 'structure' | 'read-data';

/** Options of check(): read-data, subsets, progress, lock and signal. */
export interface CheckOptions extends OperationOptions {
  /** Download and verify every pack. */
  readData?: boolean;
  /** Download and verify a subset: `n/t`, `x%` or a size, as restic's flag. */
  readDataSubset?: string | Subset;
  /** Packs verified in parallel by read-data. */
  readConcurrency?: number;
  /** Called when a phase starts; `detail` is restic's line for read-data subsets. */
  onPhase?: (phase: CheckPhase, detail?: string) => void;
  onFinding?: (f: Finding) => void;
  onProgress?: (phase: CheckPhase, done: number, total: number) => void;
}

/** What check() found. */
export interface CheckResult {
  findings: Finding[];
  errors: number;
  /** The index could not be loaded; later phases did not run. */
  indexUnreadable: boolean;
  packsRead: number;
  snapshots: number;
}

/**
 * restic's check, under an exclusive lock as restic takes. Findings are reported, not thrown.
 *
 * @example
 * ```ts
 * const { errors } = await check(repo, { readData: true });
 * if (errors > 0) console.error('repository damaged');
 * ```
 */
export async function check(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  checkRepository(repo, 'check');
  // While a lock of its own settles, the cache fetches the index, snapshot and tree files,
  // and --read-data its first packs.
  let early: EarlyPacks | undefined;
  const onWritten = (id: string) => {
    opts.lockOptions?.onWritten?.(id);
    void repo.warmCache().catch(() => undefined);
    if (opts.readData && !repo.memory.tight) early = EarlyPacks.start(repo.backend, READ_AHEAD_BYTES, readConcurrency(repo), opts.signal);
  };
  try {
    return await repo.runLocked('check', true, { ...opts, lockOptions: { ...opts.lockOptions, onWritten } }, () =>
      checkLocked(repo, opts, early),
    );
  } finally {
    early?.clear();
  }
}

async function checkLocked(repo: Repository, opts: CheckOptions, early: EarlyPacks | undefined): Promise<CheckResult> {
  early?.endListing();
  const subset = typeof opts.readDataSubset === 'string' ? parseSubset(opts.readDataSubset) : opts.readDataSubset;
  // read-data's workers load while the index and trees are checked.
  if (opts.readData || subset) prestartReadData(repo, opts.readConcurrency);
  try {
    return await checkPhases(repo, opts, subset, early);
  } finally {
    await discardSpare(); // prestarted workers left untaken (the index was unreadable)
  }
}

async function checkPhases(
  repo: Repository,
  opts: CheckOptions,
  subset: Subset | undefined,
  early: EarlyPacks | undefined,
): Promise<CheckResult> {
  const findings: Finding[] = [];
  const report = (list: Finding[]) => {
    for (const f of list) {
      findings.push(f);
      opts.onFinding?.(f);
    }
  };
  const progress =
    (phase: CheckPhase): Progress =>
    (done, total) => {
      opts.signal?.throwIfAborted();
      opts.onProgress?.(phase, done, total);
    };
  const result = (indexUnreadable: boolean, packsRead = 0): CheckResult => ({
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    indexUnreadable,
    packsRead,
    snapshots: chk.snapshotCount,
  });

  const chk = new Checker(repo, opts.signal);
  // the snapshot and pack listings run while the index files are read
  const snapshots = chk.loadSnapshots();
  snapshots.catch(() => undefined); // awaited below
  chk.listPacks();
  opts.signal?.throwIfAborted();
  opts.onPhase?.('load-index');
  const { hints, errors } = await chk.loadIndex();
  await snapshots;
  report(hints);
  if (errors.length) {
    report(errors);
    return result(true);
  }
  opts.signal?.throwIfAborted();
  opts.onPhase?.('packs');
  report(await chk.checkPacks());
  // the first packs to read download while the trees are checked
  const packs = opts.readData ? chk.packs : subset ? selectPacks(chk.packs, subset) : null;
  if (packs) chk.readAhead(packs, opts.readConcurrency, early);
  opts.signal?.throwIfAborted();
  opts.onPhase?.('structure');
  report(await chk.checkStructure(progress('structure')));
  if (!packs) return result(false);
  opts.signal?.throwIfAborted();
  opts.onPhase?.('read-data', opts.readData ? 'read all data' : subsetLine(subset!, packs.size, chk.packs.size));
  report(await chk.readPacks(packs, progress('read-data'), opts.readConcurrency));
  return result(false, packs.size);
}

/** restic's line announcing which packs are read. */
function subsetLine(s: Subset, selected: number, total: number): string {
  switch (s.kind) {
    case 'bucket':
      return `read group #${s.n} of ${selected} data packs (out of total ${total} packs in ${s.t} groups)`;
    case 'percent':
      return `read ${s.percent.toFixed(1)}% of data packs`;
    case 'size':
      return `read ${s.bytes} bytes of data packs`;
  }
}
