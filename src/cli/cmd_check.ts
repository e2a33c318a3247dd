import fs from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { ResticError, UsageError } from '../errors.js';
import type { Command } from './command.js';
import { type GlobalContext, cacheBase, lockOptions, openRepository } from './global.js';
import { logLine } from './read-common.js';
import { ProgressCounter } from '../ui/progress.js';
import { formatDuration } from '../ui/duration.js';
import { type CheckPhase, check } from '../checker/index.js';
import { prestartReadData } from '../checker/checker.js';
import { parseSubset } from '../checker/subset.js';
import type { Finding } from '../checker/findings.js';
import type { Repository } from '../repository/repository.js';
import { STALE_TEMP_AGE_MS, listTempFiles } from '../repository/temp-files.js';
import { resticFormatBytes } from '../ui/format.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'Check the repository for errors',
  usage: 'restic-ts check [flags]',
  options: [
    { name: 'read-data', kind: 'bool', help: 'read all data blobs' },
    {
      name: 'read-data-subset',
      kind: 'string',
      help: "read a subset of data packs, specified as 'n/t' for specific part, or either 'x%' or 'x.y%' or a size in bytes with suffixes k/K, m/M, g/G, t/T for a random subset",
    },
    { name: 'check-unused', kind: 'bool', help: 'find unused blobs (deprecated, ignored)' },
    { name: 'with-cache', kind: 'bool', help: 'use existing cache, only read uncached data from repository' },
  ],
  async run(ctx, args) {
    if (args.length)
      throw new UsageError('the check command expects no arguments, only options - please see `restic help check` for usage and flags');
    const readData = !!ctx.opts['read-data'];
    const subset = ctx.opts['read-data-subset'] as string | undefined;
    if (readData && subset) throw new UsageError('check flags --read-data and --read-data-subset cannot be used together');
    if (subset) parseSubset(subset);
    if (ctx.opts['check-unused'])
      ctx.stderr('Flag --check-unused has been deprecated, `--check-unused` is deprecated and will be ignored\n');

    const say = logLine(ctx);
    const { repo, tempCache } = await openForCheck(ctx);
    try {
      if (!ctx.opts['no-lock']) say('create exclusive lock for repository');
      // read-data's workers load while the lock settles (restic waits 200 ms after writing it);
      // check() takes the lock, and its (temporary) cache fetches index, snapshot and tree files then
      if (readData || subset) prestartReadData(repo);
      return await checkAndReport(ctx, repo, readData, subset);
    } finally {
      await closeForCheck(repo, tempCache);
    }
  },
};

/** Run the check (under its lock unless --no-lock), printing restic's phase lines, findings and summary. */
async function checkAndReport(ctx: GlobalContext, repo: Repository, readData: boolean, subset: string | undefined): Promise<number> {
  const say = logLine(ctx);
  const printer = new FindingPrinter(ctx);
  const progress = new ProgressCounter(ctx.stdout, !ctx.json && !ctx.quiet);
  const result = await check(repo, {
    signal: ctx.signal,
    lock: ctx.opts['no-lock'] ? false : undefined,
    lockOptions: lockOptions(ctx),
    readData,
    readDataSubset: subset,
    onPhase: (phase, detail) => {
      progress.end();
      printer.phaseDone(phase);
      say(PHASE_LINES[phase] ?? detail ?? '');
    },
    onFinding: (f) => {
      progress.end();
      printer.print(f);
    },
    onProgress: (phase, done, total) => progress.update(done, total, phase === 'read-data' ? 'packs' : 'snapshots'),
  });
  progress.end();
  printer.phaseDone(null);
  if (ctx.json) printJsonSummary(ctx, result);
  else await listTemps(ctx, repo);
  if (result.indexUnreadable) throw new ResticError('LoadIndex returned errors');
  if (result.errors) throw new ResticError('repository contains errors');
  say('no errors were found');
  return 0;
}

async function openForCheck(ctx: GlobalContext): Promise<{ repo: Repository; tempCache: string | false | undefined }> {
  const tempCache = await makeCheckCache(ctx);
  try {
    // the lock's first look is listed while scrypt runs
    const listEarly: Array<'lock'> = ctx.opts['no-lock'] ? [] : ['lock'];
    return { repo: await openRepository(ctx, { cacheDir: tempCache, listEarly }), tempCache };
  } catch (err) {
    if (tempCache) await fs.rm(tempCache, { recursive: true, force: true });
    throw err;
  }
}

async function closeForCheck(repo: Repository, tempCache: string | false | undefined): Promise<void> {
  await repo.close();
  if (tempCache) await fs.rm(tempCache, { recursive: true, force: true });
}

/**
 * As restic: a fresh `restic-check-cache-<digits>` directory in the cache base unless
 * --with-cache (undefined: the usual cache), so every file is read from the store once.
 * False: none could be made.
 */
async function makeCheckCache(ctx: GlobalContext): Promise<string | false | undefined> {
  if (ctx.opts['with-cache'] || ctx.opts['no-cache']) return undefined;
  const base = cacheBase(ctx);
  try {
    await fs.mkdir(base, { recursive: true, mode: 0o700 });
    const dir = path.join(base, `restic-check-cache-${randomInt(1e9, 1e10)}`);
    await fs.mkdir(dir, { mode: 0o700 });
    return dir;
  } catch (err) {
    ctx.stderr(`unable to create temporary directory for cache during check, disabling cache: ${(err as Error).message}\n`);
    return false;
  }
}

const PHASE_LINES: Partial<Record<CheckPhase, string>> = {
  'load-index': 'load indexes',
  packs: 'check all packs',
  structure: 'check snapshots, trees and blobs',
};

/** Prints findings with restic's words: hints on stdout, errors on stderr; JSON lines under --json. */
class FindingPrinter {
  private rebuildHint = false;
  private pruneHint = false;
  private orphans = 0;
  private dupBlobs = false;

  constructor(private readonly ctx: GlobalContext) {}

  print(f: Finding): void {
    const { ctx } = this;
    if (ctx.json) {
      const { severity, ...rest } = f;
      ctx.stdout(JSON.stringify({ message_type: severity, ...rest }) + '\n');
      return;
    }
    if (f.severity === 'error') {
      if (f.kind === 'tree') {
        ctx.stderr(`${f.message}:\n${(f.details ?? []).map((d) => `  ${d}\n`).join('')}`);
      } else if (f.kind === 'index-unreadable' || f.kind === 'snapshot') {
        ctx.stderr(`error: ${f.message}\n`);
      } else {
        ctx.stderr(f.message + '\n');
      }
      return;
    }
    if (ctx.quiet) return;
    ctx.stdout(f.message + '\n');
    if (f.kind === 'duplicate-pack' || f.kind === 'old-index-format' || f.kind === 'obsolete-index') this.rebuildHint = true;
    if (f.kind === 'mixed-pack') this.pruneHint = true;
    if (f.kind === 'orphaned-pack') this.orphans++;
    if (f.kind === 'duplicate-blobs') this.dupBlobs = true;
  }

  /** The summary lines restic prints after the index and pack phases. */
  phaseDone(next: CheckPhase | null): void {
    const { ctx } = this;
    if (ctx.json || ctx.quiet) return;
    if (next === 'packs' || next === null) {
      if (this.rebuildHint) ctx.stdout("This is non-critical, you can run `restic rebuild-index' to correct this\n");
      if (this.pruneHint)
        ctx.stdout('Mixed packs with tree and data blobs are non-critical, you can run `restic prune` to correct this.\n');
      if (this.dupBlobs) ctx.stdout('Duplicate blobs are non-critical, you can run `restic prune` to correct this.\n');
      this.rebuildHint = this.pruneHint = this.dupBlobs = false;
    }
    if (next === 'structure' || (next === null && this.orphans)) {
      if (this.orphans) {
        ctx.stdout(
          `${this.orphans} additional files were found in the repo, which likely contain duplicate data.\nThis is non-critical, you can run \`restic prune\` to correct this.\n`,
        );
      }
      this.orphans = 0;
    }
  }
}

/** Temp files of killed writers: no part of the repository, reported as non-critical. */
async function listTemps(ctx: GlobalContext, repo: Repository): Promise<void> {
  const temps = await listTempFiles(repo.backend);
  if (!temps.length) return;
  const now = Date.now();
  ctx.stdout(
    `${temps.length} temp files left by interrupted writers (non-critical; backup and prune remove them once ${STALE_TEMP_AGE_MS / 3_600_000} h old):\n`,
  );
  for (const t of temps) ctx.stdout(`  ${t.path} (${resticFormatBytes(t.size)}, ${formatDuration(now - t.mtimeMs)} old)\n`);
}

/** restic's JSON summary of check. */
function printJsonSummary(ctx: GlobalContext, result: Awaited<ReturnType<typeof check>>): void {
  ctx.stdout(
    JSON.stringify({
      message_type: 'summary',
      num_errors: result.errors,
      num_hints: result.findings.length - result.errors,
      broken_packs: result.findings
        .filter((f) => f.kind === 'read-data' || f.kind === 'missing-pack' || f.kind === 'pack-size')
        .map((f) => f.pack),
      suggest_repair_index: result.findings.some((f) =>
        ['duplicate-pack', 'old-index-format', 'obsolete-index', 'orphaned-pack', 'missing-pack', 'pack-size'].includes(f.kind),
      ),
      suggest_prune: result.findings.some((f) => ['mixed-pack', 'orphaned-pack', 'duplicate-blobs'].includes(f.kind)),
      snapshots: result.snapshots,
      packs_read: result.packsRead,
    }) + '\n',
  );
}
