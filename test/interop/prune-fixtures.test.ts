/**
 * prune parity on restic's fixture repositories (damaged ones included): restic-ts prune
 * refuses where restic 0.14 refuses, and otherwise plans the same (identical summary lines),
 * leaving a repository restic checks exactly as it checks its own result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { restic } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'geheim';
const FIXTURES = path.resolve('test/fixtures/restic-testdata');
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir('restic-ts-prune-fx-');
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

const tick = () => new Promise((r) => setImmediate(r));

function extract(name: string, as: string): string {
  const dir = path.join(tmp.dir, as);
  fs.mkdirSync(dir, { recursive: true });
  expect(spawnSync('tar', ['-xzf', path.join(FIXTURES, `${name}.tar.gz`), '-C', dir]).status).toBe(0);
  return path.join(dir, 'repo');
}

/** The plan summary both tools print at default verbosity. */
function summary(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => /^(to repack|this removes|to delete|total prune|remaining|unused size after prune): /.test(l) && !/ packs$/.test(l));
}

const CASES = [
  { name: 'small-repo', ok: true },
  { name: 'repo-mixed', ok: true },
  { name: 'repo-duplicates', ok: true },
  { name: 'repo-unreferenced-data', ok: true },
  { name: 'repo-unused-data-missing', ok: true },
  { name: 'repo-data-missing', ok: false },
  { name: 'repo-index-missing-blob', ok: false },
];

describe.each(CASES)('prune on fixture $name', ({ name, ok }) => {
  it(ok ? 'plans as restic does and leaves a clean repository' : 'refuses, as restic does, and changes nothing', async () => {
    const mine = extract(name, `${name}-ours`);
    const theirs = extract(name, `${name}-restic`);
    const before = fs.readdirSync(path.join(mine, 'index')).sort();
    const r = cli(['-r', mine, 'prune'], { RESTIC_PASSWORD: PASSWORD });
    await tick();
    const ref = restic(theirs, PASSWORD, ['prune']);
    expect(r.code === 0).toBe(ref.code === 0);
    expect(r.code === 0).toBe(ok);
    if (!ok) {
      expect(r.stderr).toMatch(/^Fatal: .*(missing|not found in the index)/m);
      expect(fs.readdirSync(path.join(mine, 'index')).sort()).toEqual(before);
      return;
    }
    expect(summary(r.stdout)).toEqual(summary(ref.stdout));
    expect(summary(r.stdout)).toHaveLength(6);
    await tick();
    const checkMine = restic(mine, PASSWORD, ['check', '--read-data']);
    expect(checkMine.code, checkMine.stdout + checkMine.stderr).toBe(0);
    expect(checkMine.stdout).not.toMatch(/not referenced in any index|several indexes|mix of tree and data/);
  });
});
