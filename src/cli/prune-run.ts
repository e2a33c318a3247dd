import { ProgressCounter } from '../ui/progress.js';
import type { OptionSpec } from './args.js';
import type { GlobalContext } from './global.js';
import { logLine } from './read-common.js';
import type { Repository } from '../repository/repository.js';
import { removeStaleTempFiles } from '../repository/temp-files.js';
import { type PruneOptions, type PruneStep, prune, pruneLimits } from '../prune/prune.js';
import { pruneStatsText } from '../ui/prune-report.js';

/** The flags `prune` and `forget --prune` share (restic's addPruneOptions). */
export const PRUNE_OPTIONS: OptionSpec[] = [
  {
    name: 'max-unused',
    kind: 'string',
    help: 'tolerate given limit of unused data (absolute value in bytes with suffixes k/K, m/M, g/G, t/T, a value in % or the word \'unlimited\') (default "5%")',
  },
  { name: 'max-repack-size', kind: 'string', help: 'maximum size to repack (allowed suffixes: k/K, m/M, g/G, t/T)' },
  { name: 'repack-cacheable-only', kind: 'bool', help: 'only repack packs which are cacheable' },
  { name: 'repack-small', kind: 'bool', help: 'repack pack files below 80% of target pack size' },
  { name: 'repack-uncompressed', kind: 'bool', help: 'repack all uncompressed data' },
];

/** Prune options from the shared flags; validates them before any work starts. */
export function pruneOptionsFromFlags(ctx: GlobalContext): PruneOptions {
  const opts: PruneOptions = {
    maxUnused: (ctx.opts['max-unused'] as string | undefined) ?? '5%',
    maxRepackSize: ctx.opts['max-repack-size'] as string | undefined,
    repackCacheableOnly: !!ctx.opts['repack-cacheable-only'],
    repackSmall: !!ctx.opts['repack-small'],
    repackUncompressed: !!ctx.opts['repack-uncompressed'],
    dryRun: !!ctx.opts['dry-run'],
  };
  pruneLimits(opts);
  return opts;
}

/**
 * Run prune with restic's output on an opened repository whose exclusive lock the caller
 * holds (used by `prune` and by `forget --prune`).
 */
export async function runPruneWithOutput(ctx: GlobalContext, repo: Repository, opts: PruneOptions): Promise<void> {
  const say = logLine(ctx);
  if (!opts.dryRun) {
    // temp files of killed writers (restic's or ours), once surely dead
    const cleaned = await removeStaleTempFiles(repo.backend);
    if (cleaned.files) say(`removed ${cleaned.files} stale temp files (${cleaned.bytes} bytes)`);
  }
  const counter = new ProgressCounter(ctx.stdout, !ctx.json && !ctx.quiet);
  const result = await prune(repo, {
    signal: ctx.signal,
    ...opts,
    log: (l) => {
      counter.end();
      say(l);
    },
    warn: (l) => ctx.stderr(l + '\n'),
    onProgress: (what, done, total) => counter.update(done, total, what),
    onPlan: (stats) => {
      counter.end();
      if (!ctx.quiet && !ctx.json) ctx.stdout(pruneStatsText(stats));
    },
    onStep: killSwitch(ctx.env, opts.onStep),
  });
  counter.end();
  if (ctx.json) {
    ctx.stdout(
      JSON.stringify({
        message_type: 'summary',
        dry_run: result.dryRun,
        stats: result.stats,
        packs_unreferenced: [...result.plan.removePacksFirst],
        packs_repacked: [...result.plan.repackPacks],
        packs_removed: [...result.plan.removePacks],
        packs_written: result.newPacks,
        indexes_written: result.newIndexes,
      }) + '\n',
    );
  }
}

/**
 * Test hook: RESTIC_TS_TEST_KILL_AT=<step>[:<n>] sends SIGKILL to this process right after
 * the n-th (default first) occurrence of a prune step, to prove crash safety.
 */
function killSwitch(env: NodeJS.ProcessEnv, next?: (s: PruneStep) => void | Promise<void>): (s: PruneStep) => Promise<void> {
  const spec = env.RESTIC_TS_TEST_KILL_AT;
  const m = spec ? /^([a-z-]+)(?::(\d+))?$/.exec(spec) : null;
  const counts = new Map<string, number>();
  return async (s) => {
    await next?.(s);
    if (!m) return;
    const n = (counts.get(s) ?? 0) + 1;
    counts.set(s, n);
    if (s === m[1] && n === Number(m[2] ?? 1)) process.kill(process.pid, 'SIGKILL');
  };
}
