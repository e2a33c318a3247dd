/**
 * Restore of 200,000 small files inside a 128 MiB memory cgroup (issue 14): the restore plan is
 * written in batches, so memory does not grow with the snapshot's file count. The heavier half
 * of the memory tests (≈3 minutes): generating, backing up and restoring 200,000 files.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, findHierarchy, withMemoryCgroup } from '../helpers/cgroup.js';
import { TEST_SCRYPT } from '../helpers/cli.js';
import { cliAsync } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const LIMIT = 128 * 1024 * 1024;
const FILES = 200_000;
const PER_DIR = 500;
const env = { RESTIC_PASSWORD: 'memory-200k' };

const content = (n: number) =>
  `file ${n} ${crypto
    .createHash('sha256')
    .update(String(n))
    .digest('hex')
    .repeat(1 + (n % 5))}\n`;

let tmp: { dir: string; cleanup: () => void };

/**
 * Heavy and at the edge of its limit (it passed in two full runs and was OOM-killed once while
 * the other test files wrote to the same disk in parallel: cgroup v1 charges dirty page cache),
 * so it runs alone, by `npm run test:heavy`, not in the default suite. Issue 14 stays open.
 */
const HEAVY = process.env.RESTIC_TS_HEAVY_TESTS === '1';

describe.runIf(HEAVY)('restore of 200,000 small files inside a 128 MiB memory cgroup', () => {
  beforeAll(async () => {
    const h = findHierarchy();
    if (typeof h === 'string') throw new Error(h);
    tmp = tempDir('restic-ts-memcg200k-');
    const data = path.join(tmp.dir, 'data');
    // Written asynchronously, a directory at a time: the test runner must stay responsive.
    for (let d = 0; d < FILES / PER_DIR; d++) {
      const dir = path.join(data, `d${d}`);
      await fs.promises.mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: PER_DIR }, (_, i) => fs.promises.writeFile(path.join(dir, `f${d * PER_DIR + i}`), content(d * PER_DIR + i))),
      );
    }
    const repo = path.join(tmp.dir, 'repo');
    for (const args of [['init'], ['backup', '-q', data]]) {
      const r = await cliAsync(['-r', repo, ...args], env, 900_000);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 900_000);

  afterAll(async () => {
    if (tmp) await fs.promises.rm(tmp.dir, { recursive: true, force: true });
  }, 300_000);

  it('fits and restores every file', async () => {
    const target = path.join(tmp.dir, 'target');
    const r = await withMemoryCgroup(LIMIT, (cg) =>
      cg.run(process.execPath, [CLI, '-r', path.join(tmp.dir, 'repo'), 'restore', 'latest', '--target', target], {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RESTIC_TS_SCRYPT: TEST_SCRYPT,
        ...env,
      }),
    );
    expect(r.oomKilled, describeRun(r, LIMIT)).toBe(false);
    expect(r.code, describeRun(r, LIMIT)).toBe(0);
    const root = path.join(target, tmp.dir, 'data');
    let count = 0;
    for (const d of fs.readdirSync(root)) count += fs.readdirSync(path.join(root, d)).length;
    expect(count).toBe(FILES);
    for (const n of [0, 1, 12_345, 99_999, FILES - 1]) {
      expect(fs.readFileSync(path.join(root, `d${Math.floor(n / PER_DIR)}`, `f${n}`), 'utf8')).toBe(content(n));
    }
  }, 900_000);
});
