/**
 * `copy` and `init --copy-chunker-params` against restic 0.14: a copy into a repository
 * sharing the source's chunker polynomial adds no data blobs beyond a backup of the same
 * files; restic checks both repositories clean, restores the copy, and recognizes our
 * copies (its own `copy` then copies nothing), as do we on a second run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local.js';
import { Repository } from '../../src/repository/repository.js';
import { cli } from '../helpers/cli.js';
import { diffTrees, pseudoRandom } from '../helpers/gentree.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const SRC_PW = 'source-pw';
const DST_PW = 'dest-pw';
let tmp: ReturnType<typeof tempDir>;
let data: string;
let src: string;
/** source data blobs a copy had to add into the repository made with --copy-chunker-params */
let missingShared = 0;

const ourSrc = (args: string[]) => cli(['-r', src, ...args], { RESTIC_PASSWORD: SRC_PW });
const ok = (r: { code: number; stdout: string; stderr: string }) => {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return r.stdout;
};

/** Data blobs per ID, and how many index entries (copies) each has. */
async function dataBlobs(repoDir: string, password: string): Promise<Map<string, number>> {
  const repo = await Repository.open(new LocalBackend(repoDir), password);
  await repo.loadIndex();
  const out = new Map<string, number>();
  for (const p of repo.index.allPacks()) for (const b of p.blobs) if (b.type === 'data') out.set(b.id, (out.get(b.id) ?? 0) + 1);
  await repo.close();
  return out;
}

function writeData(version: number): void {
  fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(data, 'big.bin'), pseudoRandom('copy-big', 6 * 1024 * 1024));
  fs.writeFileSync(path.join(data, 'sub', 'small.txt'), `small file, version ${version}\n`);
  fs.writeFileSync(path.join(data, `changing-${version}.bin`), pseudoRandom(`changing-${version}`, 700 * 1024));
  for (const p of [data, path.join(data, 'sub'), path.join(data, 'big.bin'), path.join(data, 'sub', 'small.txt')])
    fs.utimesSync(p, 1_700_000_000, 1_700_000_000);
}

beforeAll(() => {
  tmp = tempDir('copy-');
  data = path.join(tmp.dir, 'data');
  src = path.join(tmp.dir, 'src');
  ok(ourSrc(['init']));
  writeData(1);
  ok(ourSrc(['backup', '--host', 'h1', '--tag', 'one', '--time', '2026-01-01 10:00:00', data]));
  writeData(2);
  ok(ourSrc(['backup', '--host', 'h1', '--tag', 'two', '--time', '2026-01-02 10:00:00', data]));
});
afterAll(() => tmp.cleanup());

describe('copy', () => {
  it('init --copy-chunker-params takes the source polynomial; the copy adds no data beyond a backup of the same files', async () => {
    const dst = path.join(tmp.dir, 'dst');
    const dstEnv = { RESTIC_PASSWORD: DST_PW, RESTIC_FROM_PASSWORD: SRC_PW };
    ok(cli(['-r', dst, 'init', '--copy-chunker-params', '--from-repo', src], dstEnv));
    const pol = (repo: string, pw: string) => JSON.parse(resticOk(repo, pw, ['--no-lock', 'cat', 'config'])).chunker_polynomial;
    expect(pol(dst, DST_PW)).toBe(pol(src, SRC_PW));

    // the destination first backs up the same (current) files itself
    ok(cli(['-r', dst, 'backup', '--host', 'h1', '--time', '2026-01-03 10:00:00', data], dstEnv));
    const before = await dataBlobs(dst, DST_PW);
    const srcBlobs = await dataBlobs(src, SRC_PW);

    const out = ok(cli(['-r', dst, 'copy', '--from-repo', src], dstEnv));
    expect(out).toContain('copy started');
    const after = await dataBlobs(dst, DST_PW);
    // exactly the source blobs the destination lacked were added (the older file version), each once
    const missing = [...srcBlobs.keys()].filter((id) => !before.has(id));
    expect(missing.length).toBeGreaterThan(0);
    missingShared = missing.length;
    expect(after.size).toBe(before.size + missing.length);
    expect([...after.values()].every((n) => n === 1)).toBe(true);
    // the big file's chunks are shared: the copy re-used the backup's blobs
    const shared = [...srcBlobs.keys()].filter((id) => before.has(id));
    expect(shared.length).toBeGreaterThanOrEqual(2);

    // restic: both repositories check clean (with all data read in the destination)
    resticOk(src, SRC_PW, ['check']);
    resticOk(dst, DST_PW, ['check', '--read-data']);

    // the copies carry `original` and no parent; restic restores the copied newest snapshot identically
    const sns = JSON.parse(resticOk(dst, DST_PW, ['--no-lock', 'snapshots', '--json'])) as Array<{
      id: string;
      tags?: string[];
      original?: string;
      parent?: string;
    }>;
    const srcSns = JSON.parse(resticOk(src, SRC_PW, ['--no-lock', 'snapshots', '--json'])) as Array<{ id: string; tags?: string[] }>;
    expect(sns).toHaveLength(3);
    const copyTwo = sns.find((s) => s.tags?.includes('two'))!;
    expect(copyTwo.original).toBe(srcSns.find((s) => s.tags?.includes('two'))!.id);
    expect(copyTwo.parent).toBeUndefined();
    const target = path.join(tmp.dir, 'restore');
    resticOk(dst, DST_PW, ['restore', copyTwo.id, '--target', target]);
    expect(diffTrees(data, path.join(target, data))).toEqual([]);

    // a second copy (ours) and restic's own copy both find nothing to do
    const again = ok(cli(['-r', dst, 'copy', '--from-repo', src], dstEnv));
    expect(again.match(/skipping source snapshot/g)).toHaveLength(2);
    const theirs = resticOk(dst, DST_PW, ['copy', '--from-repo', src], { RESTIC_FROM_PASSWORD: SRC_PW });
    expect(theirs.match(/skipping source snapshot/g)).toHaveLength(2);
    expect(fs.readdirSync(path.join(dst, 'snapshots'))).toHaveLength(3);
    expect((await dataBlobs(dst, DST_PW)).size).toBe(after.size);
  });

  it('without shared chunker parameters the same copy duplicates the big file (why the flag exists)', async () => {
    const other = path.join(tmp.dir, 'other');
    const env = { RESTIC_PASSWORD: DST_PW };
    ok(cli(['-r', other, 'init'], env));
    ok(cli(['-r', other, 'backup', '--host', 'h1', data], env));
    const before = await dataBlobs(other, DST_PW);
    const srcBlobs = await dataBlobs(src, SRC_PW);
    const missing = [...srcBlobs.keys()].filter((id) => !before.has(id));
    expect(missing.length).toBeGreaterThan(missingShared);
    ok(cli(['-r', other, 'copy', '--from-repo', src, '--from-password-file', pwFile(SRC_PW), '--tag', 'two'], env));
    const sns = JSON.parse(resticOk(other, DST_PW, ['--no-lock', 'snapshots', '--json'])) as Array<{ tags?: string[] }>;
    expect(sns.map((s) => (s.tags ?? []).join(',')).sort()).toEqual(['', 'two']);
    resticOk(other, DST_PW, ['check']);
  });

  it('copies what restic wrote, and restic recognizes the result (restic source, restic-ts copy)', () => {
    const rsrc = path.join(tmp.dir, 'rsrc');
    const rdst = path.join(tmp.dir, 'rdst');
    resticOk(rsrc, SRC_PW, ['init']);
    resticOk(rsrc, SRC_PW, ['backup', '--host', 'r1', data]);
    ok(
      cli(['-r', rdst, 'init', '--copy-chunker-params'], {
        RESTIC_PASSWORD: DST_PW,
        RESTIC_FROM_REPOSITORY: rsrc,
        RESTIC_FROM_PASSWORD: SRC_PW,
      }),
    );
    ok(cli(['-r', rdst, 'copy'], { RESTIC_PASSWORD: DST_PW, RESTIC_FROM_REPOSITORY: rsrc, RESTIC_FROM_PASSWORD: SRC_PW }));
    resticOk(rdst, DST_PW, ['check', '--read-data']);
    const theirs = resticOk(rdst, DST_PW, ['copy', '--from-repo', rsrc], { RESTIC_FROM_PASSWORD: SRC_PW });
    expect(theirs).toContain('skipping source snapshot');
  });

  it('accepts the deprecated --repo2 group (there -r is the source), and refuses both groups at once', () => {
    const dst = path.join(tmp.dir, 'legacy');
    const init = cli(['-r', dst, 'init', '--copy-chunker-params', '--repo2', src], { RESTIC_PASSWORD: DST_PW, RESTIC_PASSWORD2: SRC_PW });
    expect(init.code, init.stderr).toBe(0);
    const r = cli(['-r', src, 'copy', '--repo2', dst, '--tag', 'one'], { RESTIC_PASSWORD: SRC_PW, RESTIC_PASSWORD2: DST_PW });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Flag --repo2 has been deprecated, use --repo or --from-repo instead');
    const sns = JSON.parse(resticOk(dst, DST_PW, ['--no-lock', 'snapshots', '--json'])) as Array<{ tags?: string[] }>;
    expect(sns.map((s) => s.tags)).toEqual([['one']]);
    const both = cli(['-r', dst, 'copy', '--repo2', src, '--from-repo', src], { RESTIC_PASSWORD: DST_PW });
    expect([both.code, both.stderr]).toEqual([
      1,
      'Fatal: Option groups repo2 and from-repo are mutually exclusive, please specify only one\n',
    ]);
  });

  it('reports a missing source with restic words', () => {
    const r = cli(['-r', path.join(tmp.dir, 'dst'), 'copy'], { RESTIC_PASSWORD: DST_PW });
    expect([r.code, r.stderr]).toEqual([1, 'Fatal: Please specify a source repository location (--from-repo or --from-repository-file)\n']);
    const wrong = cli(['-r', path.join(tmp.dir, 'dst'), 'copy', '--from-repo', src], {
      RESTIC_PASSWORD: DST_PW,
      RESTIC_FROM_PASSWORD: 'nope',
    });
    expect(wrong.code).toBe(12);
    const stray = cli(['-r', path.join(tmp.dir, 'never'), 'init', '--from-repo', src], { RESTIC_PASSWORD: DST_PW });
    expect([stray.code, stray.stderr]).toEqual([
      1,
      'Fatal: Secondary repository must only be specified when copying the chunker parameters\n',
    ]);
    expect(restic(path.join(tmp.dir, 'never'), DST_PW, ['--no-lock', 'snapshots']).code).not.toBe(0);
  });
});

function pwFile(pw: string): string {
  const f = path.join(tmp.dir, `pw-${pw}`);
  fs.writeFileSync(f, pw + '\n');
  return f;
}
