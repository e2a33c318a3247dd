/**
 * prune against restic 0.14: after snapshots are removed, restic-ts prune leaves a
 * repository restic checks clean (--read-data) and restores every kept snapshot from; after
 * restic's own prune, restic-ts check is clean and restores the same.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { diffTrees } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';
import {
  type History,
  PASSWORD,
  addUnreferencedPacks,
  buildHistory,
  copyRepo,
  listFiles,
  removeSnapshots,
} from '../helpers/prune-setup.js';
import { LocalBackend, Repository, prune } from '../../src/index.js';

const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let base: History;

beforeAll(async () => {
  tmp = tempDir('restic-ts-prune-');
  base = await buildHistory(tmp.dir);
  await addUnreferencedPacks(base.repo, 2);
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

function fresh(name: string): string {
  const dir = path.join(tmp.dir, name);
  copyRepo(base.repo, dir);
  return dir;
}

function packs(repo: string): string[] {
  return listFiles(path.join(repo, 'data'));
}

function resticRestores(repo: string, id: string, state: string): void {
  const target = fs.mkdtempSync(path.join(tmp.dir, 'restore-'));
  resticOk(repo, PASSWORD, ['restore', id, '--target', target]);
  expect(diffTrees(state, path.join(target, state))).toEqual([]);
  fs.rmSync(target, { recursive: true, force: true });
}

describe('restic-ts prune, restic verifies', () => {
  it('after restic forget: repacks and deletes, restic check --read-data passes, kept snapshots restore', () => {
    const repo = fresh('ours-after-restic-forget');
    const [s0, s1, s2, s3] = base.snapshots as [string, string, string, string];
    resticOk(repo, PASSWORD, ['forget', s1, s2]);
    const before = packs(repo);

    const dry = cli(['-r', repo, '--json', 'prune', '--dry-run'], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout.trim().split('\n').pop()!);
    expect(plan.dry_run).toBe(true);
    expect(plan.packs_unreferenced).toHaveLength(2);
    expect(plan.stats.blobs.unused).toBeGreaterThan(0);
    expect(plan.packs_repacked.length + plan.packs_removed.length).toBeGreaterThan(0);
    expect(packs(repo)).toEqual(before); // dry run changes nothing

    const r = cli(['-r', repo, 'prune'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/to repack: +\d+ blobs/);
    expect(r.stdout).toMatch(/total prune: +\d+ blobs/);
    expect(r.stdout).toMatch(/deleting unreferenced packs/);
    expect(r.stdout).toMatch(/done\n$/);
    const after = packs(repo);
    for (const p of [...plan.packs_unreferenced, ...plan.packs_repacked, ...plan.packs_removed]) {
      expect(after.some((f) => f.endsWith(p))).toBe(false);
    }

    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    resticRestores(repo, s0, base.states[0]!);
    resticRestores(repo, s3, base.states[3]!);
    // A second prune finds nothing more worth doing beyond the tolerated unused share.
    const again = cli(['-r', repo, '--json', 'prune', '--dry-run'], env);
    const plan2 = JSON.parse(again.stdout.trim().split('\n').pop()!);
    expect(plan2.packs_unreferenced).toEqual([]);
    expect(plan2.packs_removed).toEqual([]);
    expect(plan2.stats.size.unused).toBeLessThanOrEqual(plan2.stats.size.used * 0.06);
  });

  it('forget --prune: removes by policy, then prunes under the same lock; restic checks clean and restores what is kept', () => {
    const repo = fresh('ours-forget-prune');
    const [, , s2, s3] = base.snapshots as [string, string, string, string];
    const before = packs(repo);
    // each snapshot has its own path: group by host so the policy sees all four
    const f = cli(['-r', repo, 'forget', '--group-by', 'host', '--keep-last', '2', '--prune'], env);
    expect(f.stderr).toBe('');
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/snapshots have been removed, running prune\n/);
    expect(f.stdout).toMatch(/total prune: +\d+ blobs/);
    expect(f.stdout).toMatch(/done\n$/);
    const kept = (JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json'])) as Array<{ id: string }>).map((s) => s.id).sort();
    expect(kept).toEqual([s2, s3].sort());
    expect(packs(repo)).not.toEqual(before);
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    resticRestores(repo, s2, base.states[2]!);
    resticRestores(repo, s3, base.states[3]!);
    // nothing removed → no prune run
    const again = cli(['-r', repo, 'forget', '--group-by', 'host', '--keep-last', '2', '--prune'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/running prune/);
  });

  it('library prune with --max-unused unlimited only deletes wholly unused packs; --max-repack-size 0 repacks nothing', async () => {
    const repo = fresh('ours-library');
    await removeSnapshots(repo, [base.snapshots[0]!, base.snapshots[1]!]);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    try {
      const res = await prune(r, { maxUnused: 'unlimited', maxRepackSize: 0 });
      expect(res.plan.repackPacks.size).toBe(0);
      expect(res.newPacks).toEqual([]);
      expect(res.plan.removePacksFirst.size).toBe(2);
    } finally {
      await r.close();
    }
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    resticRestores(repo, base.snapshots[3]!, base.states[3]!);
  });

  it('--repack-cacheable-only repacks no data pack', async () => {
    const repo = fresh('ours-cacheable');
    await removeSnapshots(repo, [base.snapshots[1]!, base.snapshots[2]!]);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    try {
      await r.loadIndex();
      const res = await prune(r, { dryRun: true, repackCacheableOnly: true });
      const all = await prune(r, { dryRun: true });
      const hasData = (id: string) => r.index.packContents(id)!.some((b) => b.type === 'data');
      expect([...all.plan.repackPacks].some(hasData)).toBe(true);
      expect([...res.plan.repackPacks].some(hasData)).toBe(false);
    } finally {
      await r.close();
    }
  });

  it('works on a version 1 repository', async () => {
    const root = path.join(tmp.dir, 'v1');
    fs.mkdirSync(root);
    const h = await buildHistory(root, { version: 1, states: 3, files: 20 });
    resticOk(h.repo, PASSWORD, ['forget', h.snapshots[1]!]);
    const r = cli(['-r', h.repo, 'prune', '--max-unused', '0%'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/removing \d+ old packs/);
    expect(resticOk(h.repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    const target = fs.mkdtempSync(path.join(tmp.dir, 'restore-v1-'));
    resticOk(h.repo, PASSWORD, ['restore', h.snapshots[2]!, '--target', target]);
    expect(diffTrees(h.states[2]!, path.join(target, h.states[2]!))).toEqual([]);
  });

  it('rejects bad flags with restic messages and a one-line error', () => {
    const repo = fresh('ours-flags');
    let r = cli(['-r', repo, 'prune', '--max-unused', '100%'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Fatal: percentage for --max-unused must be below 100%\n');
    r = cli(['-r', repo, 'prune', '--max-unused', 'lots'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Fatal: invalid number of bytes "lots" for --max-unused/);
  });
});

describe('restic prune, restic-ts verifies', () => {
  it('restic-ts check --read-data is clean and restores the kept snapshots identically', () => {
    const repo = fresh('restic-pruned');
    const [s0, s1, s2, s3] = base.snapshots as [string, string, string, string];
    resticOk(repo, PASSWORD, ['forget', s0, s2]);
    // Both tools plan the same prune (same summary lines).
    const summary = (out: string) =>
      out
        .split('\n')
        .filter((l) => /^(to repack|this removes|to delete|total prune|remaining|unused size after prune): /.test(l) && !/ packs$/.test(l));
    const ourPlan = cli(['-r', repo, 'prune', '--dry-run'], env);
    expect(ourPlan.code).toBe(0);
    expect(summary(ourPlan.stdout)).toHaveLength(6);
    expect(summary(ourPlan.stdout)).toEqual(summary(resticOk(repo, PASSWORD, ['prune', '--dry-run'])));
    resticOk(repo, PASSWORD, ['prune']);
    const c = cli(['-r', repo, 'check', '--read-data'], env);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/read all data\n\[\d+:\d\d\] 100\.00% {2}(\d+) \/ \1 packs\n\nno errors were found\n$/);
    for (const [id, state] of [
      [s1, base.states[1]!],
      [s3, base.states[3]!],
    ] as const) {
      const target = fs.mkdtempSync(path.join(tmp.dir, 'ours-restore-'));
      const r = cli(['-r', repo, 'restore', id, '--target', target], env);
      expect(r.code).toBe(0);
      expect(diffTrees(state, path.join(target, state), { mtimeToleranceNs: 1000n })).toEqual([]);
      fs.rmSync(target, { recursive: true, force: true });
    }
    // restic's repository, pruned by restic-ts again: nothing breaks.
    const p = cli(['-r', repo, 'prune', '--max-unused', '0%'], env);
    expect(p.code).toBe(0);
    expect(restic(repo, PASSWORD, ['check', '--read-data']).code).toBe(0);
  });
});
