/**
 * Issue 7, the local round trip of test/unit/operator-config.test.ts that needs the real
 * restic: back up a Che installation to a local repository, restore it by short ID, and let
 * restic 0.14 restore Che's layout at the target root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backupInstallation, readInstallation } from '../../src/index.js';
import { resticOk, hasRestic } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';
import {
  HARD_PASSWORD,
  TEST_KDF,
  cheInstallation,
  expectRestoredDir,
  expectRestoredInstallation,
  expectedDumps,
} from '../helpers/operator-helpers.js';

const work = tempDir('restic-ts-op-config-');
afterAll(() => work.cleanup());

describe('installation layout', () => {
  it("local repository: backup, restore by short ID, and restic restores Che's layout at the target root", async () => {
    const sizes = { dbche: 2 * 1024 * 1024 + 5, keycloak: 777_777 };
    const dumps = await expectedDumps(sizes);
    const repoDir = path.join(work.dir, 'repo');
    const repo = await Repository.init(new LocalBackend(repoDir), HARD_PASSWORD, { kdf: TEST_KDF });
    const r = await backupInstallation(repo, cheInstallation(sizes), { hostname: 'che', tags: ['che-backup'] });
    expect(r.snapshot).toMatchObject({ paths: ['/tmp/che-backup-data'], hostname: 'che', tags: ['che-backup'] });
    const inst = await readInstallation(repo, r.shortId);
    await expectRestoredInstallation(inst, dumps);
    await expect(readInstallation(repo, 'latest', { hostname: 'elsewhere' })).rejects.toThrow(`no backup snapshot found in ${repoDir}`);
    await repo.close();
    expect(hasRestic()).toBe(true);
    const target = path.join(work.dir, 'restic-target');
    resticOk(repoDir, HARD_PASSWORD, ['restore', r.shortId, '--target', target]);
    expectRestoredDir(target, dumps);
    expect(fs.readFileSync(path.join(target, 'backup-info.yaml'), 'utf8')).toMatch(
      /^appsDomain: 192\.168\.49\.2\.nip\.io\ncheVersion: 7\.41\.2\ncreationDate: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* [+-]\d{4} \S+ m=\+\d+\.\d{9}\ninfrastructure: Kubernetes\nmetadataFileVersion: v1\nnamespace: eclipse-che\n$/,
    );
  }, 60_000);
});
