/**
 * `migrate upgrade_repo_v2` against restic 0.14: a v1 repository (made by restic-ts or by
 * restic) reads as v2 in restic afterwards and checks clean; later compressed backups are
 * fine; v2 repositories and damaged ones are refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { generateTree } from '../helpers/gentree.js';
import { requireRestic, restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PW = 'migrate';
const env = { RESTIC_PASSWORD: PW };
let tmp: ReturnType<typeof tempDir>;
let src: string;

beforeAll(() => {
  tmp = tempDir('restic-ts-migrate-');
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 3 * 1024 * 1024 });
});
afterAll(() => tmp.cleanup());

const configVersion = (repo: string) => JSON.parse(resticOk(repo, PW, ['cat', 'config'])).version as number;
beforeAll(requireRestic);

describe('migrate upgrade_repo_v2', () => {
  it('upgrades a restic-ts v1 repository; restic reads v2 and checks it clean, also after a compressed backup', () => {
    const repo = path.join(tmp.dir, 'ours');
    expect(cli(['-r', repo, 'init', '--repository-version', '1'], env).code).toBe(0);
    expect(cli(['-r', repo, 'backup', src], env).code).toBe(0);
    const list = cli(['-r', repo, 'migrate'], env);
    expect(list).toMatchObject({ code: 0, stdout: 'available migrations:\n  upgrade_repo_v2\tupgrade a repository to version 2\n' });
    const r = cli(['-r', repo, 'migrate', 'upgrade_repo_v2'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      'checking repository integrity...\nno errors were found\napplying migration upgrade_repo_v2...\nmigration upgrade_repo_v2: success\n',
    );
    expect(configVersion(repo)).toBe(2);
    // new data is now compressed; restic verifies all of it
    fs.writeFileSync(path.join(src, 'after-upgrade.txt'), 'compress me '.repeat(50_000));
    expect(cli(['-r', repo, 'backup', src], env).code).toBe(0);
    const check = restic(repo, PW, ['check', '--read-data']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const indexes = resticOk(repo, PW, ['list', 'index']).trim().split('\n');
    const compressed = indexes.filter((id) => resticOk(repo, PW, ['cat', 'index', id]).includes('"uncompressed_length"'));
    expect(compressed.length).toBeGreaterThan(0);
    // a second time there is nothing to do: restic's warning, nothing changes
    const again = cli(['-r', repo, 'migrate', 'upgrade_repo_v2'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('migration upgrade_repo_v2 cannot be applied: check failed');
    expect(cli(['-r', repo, 'migrate'], env).stdout).toBe('available migrations:\nno migrations found\n');
  }, 180_000);

  it('upgrades a v1 repository made by restic', () => {
    const repo = path.join(tmp.dir, 'theirs');
    resticOk(repo, PW, ['init', '--repository-version', '1']);
    resticOk(repo, PW, ['backup', src]);
    const r = cli(['-r', repo, 'migrate', 'upgrade_repo_v2'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(configVersion(repo)).toBe(2);
    const check = restic(repo, PW, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 120_000);

  it('refuses to upgrade a damaged repository and leaves it at version 1', () => {
    const repo = path.join(tmp.dir, 'damaged');
    expect(cli(['-r', repo, 'init', '--repository-version', '1'], env).code).toBe(0);
    expect(cli(['-r', repo, 'backup', src], env).code).toBe(0);
    const dataDir = path.join(repo, 'data');
    const sub = fs.readdirSync(dataDir).find((d) => fs.readdirSync(path.join(dataDir, d)).length)!;
    const pack = fs.readdirSync(path.join(dataDir, sub))[0]!;
    fs.rmSync(path.join(dataDir, sub, pack), { force: true });
    const r = cli(['-r', repo, 'migrate', 'upgrade_repo_v2'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pack ${pack}: does not exist`);
    expect(r.stderr.trim().split('\n').pop()).toBe('Fatal: repository contains errors, migration upgrade_repo_v2 not applied');
    expect(configVersion(repo)).toBe(1);
  }, 120_000);
});
