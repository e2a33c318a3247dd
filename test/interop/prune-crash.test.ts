/**
 * Crash safety of prune: the CLI is killed with SIGKILL at ten different moments
 * (RESTIC_TS_TEST_KILL_AT=<step>[:<n>]). After each, restic 0.14 checks the repository
 * (after `restic unlock` for the stale lock the killed process left) and restores every
 * snapshot that was to be kept; a second prune then finishes the job.
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

const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let base: History;
let kept: Array<[string, string]>;

beforeAll(async () => {
  tmp = tempDir('restic-ts-prune-crash-');
  base = await buildHistory(tmp.dir);
  await addUnreferencedPacks(base.repo, 2);
  await removeSnapshots(base.repo, [base.snapshots[1]!, base.snapshots[2]!]);
  kept = [
    [base.snapshots[0]!, base.states[0]!],
    [base.snapshots[3]!, base.states[3]!],
  ];
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

const KILL_POINTS = [
  'start',
  'unreferenced-pack-deleted:1',
  'unreferenced-pack-deleted:2',
  'repack-pack-saved:1',
  'repack-pack-saved:2',
  'index-saved:1',
  'old-index-deleted:1',
  'old-index-deleted:3',
  'pack-deleted:1',
  'pack-deleted:15',
];

describe('prune killed with SIGKILL', () => {
  it('the plan has every kind of step the kill points need', () => {
    const repo = path.join(tmp.dir, 'plan');
    copyRepo(base.repo, repo);
    const r = cli(['-r', repo, '--json', 'prune', '--dry-run'], env);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(plan.packs_unreferenced.length).toBeGreaterThanOrEqual(2);
    expect(plan.packs_repacked.length + plan.packs_removed.length).toBeGreaterThanOrEqual(15);
    expect(listFiles(path.join(repo, 'index')).length).toBeGreaterThanOrEqual(3);
  });

  it.each(KILL_POINTS)('at %s: restic check passes and kept snapshots restore', (point) => {
    const repo = path.join(tmp.dir, `kill-${point.replace(':', '-')}`);
    copyRepo(base.repo, repo);
    const killed = cli(['-r', repo, 'prune'], { ...env, RESTIC_TS_TEST_KILL_AT: point });
    expect(killed.code, `prune was not killed at ${point}:\n${killed.stdout}${killed.stderr}`).toBe(-1);
    expect(listFiles(path.join(repo, 'locks'))).toHaveLength(1); // the killed process's lock

    resticOk(repo, PASSWORD, ['unlock']);
    const check = restic(repo, PASSWORD, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    for (const [id, state] of kept) {
      const target = fs.mkdtempSync(path.join(tmp.dir, 'restore-'));
      resticOk(repo, PASSWORD, ['restore', id, '--target', target]);
      expect(diffTrees(state, path.join(target, state))).toEqual([]);
      fs.rmSync(target, { recursive: true, force: true });
    }

    // Running prune again completes and leaves a repository restic verifies fully.
    const again = cli(['-r', repo, 'prune'], env);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    fs.rmSync(repo, { recursive: true, force: true });
  });
});
