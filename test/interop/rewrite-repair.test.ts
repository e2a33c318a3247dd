/**
 * `rewrite` and `repair snapshots` with restic's safety rules: a new snapshot whose
 * `original` is the old one, a "rewrite"/"repaired" tag unless --forget removes the old
 * snapshot, nothing written under --dry-run. After prune, restic 0.14 checks the repository
 * clean (--read-data) and restores the kept data.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'rewrite-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;

type Sn = { id: string; time: string; hostname: string; tags?: string[]; original?: string; tree: string };
const snapshots = (repo: string) => JSON.parse(cli(['-r', repo, 'snapshots', '--json'], env).stdout) as Sn[];
const ok = (repo: string, args: string[]) => {
  const r = cli(['-r', repo, ...args], env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).sort() : []);

beforeAll(() => {
  tmp = tempDir('rewrite-repair-');
});
afterAll(() => tmp.cleanup());

describe('rewrite', () => {
  it('excludes paths into a new snapshot, keeps or forgets the old one, and restic accepts the result', () => {
    const repo = path.join(tmp.dir, 'rw-repo');
    const src = path.join(tmp.dir, 'rw-src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'keep.txt'), 'keep me\n'.repeat(2000));
    fs.writeFileSync(path.join(src, 'secret.log'), crypto.randomBytes(200_000));
    fs.writeFileSync(path.join(src, 'sub', 'inner.log'), 'inner\n');
    fs.writeFileSync(path.join(src, 'sub', 'data.bin'), crypto.randomBytes(100_000));
    ok(repo, ['init']);
    ok(repo, ['backup', src]);
    const [first] = snapshots(repo);

    const snapFiles = files(path.join(repo, 'snapshots'));
    const dry = ok(repo, ['rewrite', '--dry-run', '--exclude', '*.log', first!.id]);
    expect(dry).toContain('would save new snapshot\n');
    expect(dry).toMatch(/would modify 1 snapshots\n$/);
    expect(files(path.join(repo, 'snapshots'))).toEqual(snapFiles);

    expect(ok(repo, ['rewrite', '--exclude', '*.nothing'])).toMatch(/\nno snapshots were modified\n$/);

    const out = ok(repo, ['rewrite', '--exclude', '*.log', '-vv', first!.id.slice(0, 8)]);
    expect(out).toContain(`excluding "${src}/secret.log"\n`);
    expect(out).toContain(`excluding "${src}/sub/inner.log"\n`);
    const after = snapshots(repo);
    expect(after).toHaveLength(2);
    const rewritten = after.find((s) => s.id !== first!.id)!;
    expect(rewritten).toMatchObject({ original: first!.id, tags: ['rewrite'], time: first!.time, hostname: first!.hostname });

    const moved = ok(repo, ['rewrite', '--forget', '--new-host', 'elsewhere', rewritten.id]);
    expect(moved).toContain(`removed old snapshot ${rewritten.id.slice(0, 8)}`);
    const last = snapshots(repo).find((s) => s.hostname === 'elsewhere')!;
    // --forget: the original points at the snapshot it replaced, no second tag is added
    expect(last).toMatchObject({ original: rewritten.id, tags: ['rewrite'], tree: rewritten.tree });
    expect(
      snapshots(repo)
        .map((s) => s.id)
        .sort(),
    ).toEqual([first!.id, last.id].sort());

    ok(repo, ['forget', first!.id]);
    ok(repo, ['prune']);
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'rw-restored');
    resticOk(repo, PASSWORD, ['restore', last.id, '--target', target]);
    expect(files(path.join(target, src))).toEqual(['keep.txt', 'sub', 'sub/data.bin']);
    expect(fs.readFileSync(path.join(target, src, 'sub/data.bin')).equals(fs.readFileSync(path.join(src, 'sub/data.bin')))).toBe(true);
  });

  it('--include (restic 0.19) keeps only the matching paths and the directories leading there', () => {
    const repo = path.join(tmp.dir, 'inc-repo');
    const src = path.join(tmp.dir, 'inc-src');
    fs.mkdirSync(path.join(src, 'a', 'deep'), { recursive: true });
    fs.mkdirSync(path.join(src, 'b'));
    fs.writeFileSync(path.join(src, 'a', 'deep', 'wanted.txt'), 'wanted\n');
    fs.writeFileSync(path.join(src, 'a', 'other.txt'), 'other\n');
    fs.writeFileSync(path.join(src, 'b', 'x.txt'), 'x\n');
    ok(repo, ['init']);
    ok(repo, ['backup', src]);
    const [first] = snapshots(repo);
    expect(ok(repo, ['rewrite', '--include', '*.nothing', first!.id])).toMatch(/no snapshots were modified\n$/);
    const both = cli(['-r', repo, 'rewrite', '--include', 'x', '--exclude', 'y'], env);
    expect(both.stderr).toBe('Fatal: exclude and include patterns are mutually exclusive\n');
    const out = ok(repo, ['rewrite', '--include', 'wanted.txt', '-vv', '--forget', first!.id]);
    expect(out).toContain(`including "${src}/a/deep/wanted.txt"\n`);
    const [only] = snapshots(repo);
    expect(only!.original).toBe(first!.id);
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'inc-restored');
    resticOk(repo, PASSWORD, ['restore', only!.id, '--target', target]);
    expect(files(path.join(target, src))).toEqual(['a', 'a/deep', 'a/deep/wanted.txt']);
  });

  it('refuses to run without anything to do', () => {
    const r = cli(['-r', path.join(tmp.dir, 'rw-repo'), 'rewrite'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Fatal: Nothing to do: no excludes/includes provided and no new metadata provided\n');
  });
});

describe('repair snapshots', () => {
  it('drops content lost with a pack, tags the repaired snapshot, and restic checks clean', () => {
    const repo = path.join(tmp.dir, 'rp-repo');
    const src = path.join(tmp.dir, 'rp-src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'intact.bin'), crypto.randomBytes(300_000));
    ok(repo, ['init']);
    ok(repo, ['backup', src]);
    const packsBefore = new Set(files(path.join(repo, 'data')));
    const lost = crypto.randomBytes(3_000_000);
    fs.writeFileSync(path.join(src, 'lost.bin'), lost);
    ok(repo, ['backup', src]);
    // the second backup's largest new pack holds lost.bin's data
    const newPacks = files(path.join(repo, 'data')).filter((p) => !packsBefore.has(p) && p.length > 3);
    const biggest = newPacks.sort(
      (a, b) => fs.statSync(path.join(repo, 'data', b)).size - fs.statSync(path.join(repo, 'data', a)).size,
    )[0]!;
    fs.rmSync(path.join(repo, 'data', biggest));
    ok(repo, ['repair', 'index']);

    const dry = ok(repo, ['repair', 'snapshots', '--dry-run']);
    expect(dry).toContain(`  file "${src}/lost.bin": removed missing content\n`);
    expect(dry).toMatch(/would modify 1 snapshots\n$/);
    const before = snapshots(repo);
    expect(before).toHaveLength(2);

    const out = ok(repo, ['repair', 'snapshots', '--forget']);
    expect(out).toContain(`  file "${src}/lost.bin": removed missing content\n`);
    expect(out).toMatch(/modified 1 snapshots\n$/);
    const after = snapshots(repo);
    expect(after).toHaveLength(2);
    const repaired = after.find((s) => s.original)!;
    expect(before.map((s) => s.id)).toContain(repaired.original);
    expect(repaired.tags).toBeUndefined(); // --forget: no "repaired" tag
    expect(ok(repo, ['repair', 'snapshots'])).toMatch(/no snapshots were modified\n$/);

    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'rp-restored');
    resticOk(repo, PASSWORD, ['restore', repaired.id, '--target', target]);
    expect(fs.readFileSync(path.join(target, src, 'intact.bin')).equals(fs.readFileSync(path.join(src, 'intact.bin')))).toBe(true);
    expect(fs.statSync(path.join(target, src, 'lost.bin')).size).toBe(0);
  });
});
