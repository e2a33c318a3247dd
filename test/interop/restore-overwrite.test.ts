/**
 * restic ≥ 0.17's restore into an existing target: --overwrite (always, if-changed,
 * if-newer, never), --delete and --dry-run, with restic's -vv lines and summary counts.
 * restic 0.14 restores the same snapshot to the same files as our final --delete restore.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'restore-ow-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;
let target: string;
/** where the source lands inside a restore target */
const at = (root: string, rel: string) => path.join(root, src, rel);

const run = (args: string[]) => {
  const r = cli(['-r', repo, ...args], env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
/** every path under `root` with its content (files), link target (symlinks) or "dir" */
function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      const rel = path.relative(root, p);
      if (st.isDirectory()) {
        out[rel] = 'dir';
        walk(p);
      } else if (st.isSymbolicLink()) out[rel] = '-> ' + fs.readlinkSync(p);
      else out[rel] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(root);
  return out;
}

beforeAll(() => {
  tmp = tempDir('restore-ow-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  target = path.join(tmp.dir, 'target');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n'.repeat(1000));
  fs.writeFileSync(path.join(src, 'sub', 'b.txt'), 'beta\n'.repeat(1000));
  fs.symlinkSync('a.txt', path.join(src, 'link'));
  const old = new Date('2021-06-01T12:00:00Z');
  fs.utimesSync(path.join(src, 'a.txt'), old, old);
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  run(['backup', src]);
  run(['restore', 'latest', '--target', target]);
});
afterAll(() => tmp.cleanup());

describe('restore --overwrite/--delete/--dry-run', () => {
  it('--dry-run -vv reports what would change and changes nothing', () => {
    fs.writeFileSync(at(target, 'a.txt'), 'ALPHA\n'.repeat(1000)); // same size, other content
    fs.writeFileSync(at(target, 'sub/extra'), 'not in the snapshot');
    fs.mkdirSync(at(target, 'xdir'));
    fs.writeFileSync(at(target, 'xdir/y'), 'y');
    const before = listing(target);
    const out = run(['restore', 'latest', '--target', target, '--dry-run', '--delete', '-vv']);
    expect(listing(target)).toEqual(before);
    expect(out).toContain(`updated   ${src}/a.txt with size 5.859 KiB\n`);
    expect(out).toContain(`unchanged ${src}/sub/b.txt with size 4.883 KiB\n`);
    expect(out).toContain(`deleted   ${at(target, 'sub/extra')}\n`);
    expect(out).toContain(`deleted   ${at(target, 'xdir/y')}\ndeleted   ${at(target, 'xdir')}\n`);
    expect(out).toMatch(/, skipped 1 files\/dirs 4\.883 KiB, deleted 3 files\/dirs\n$/);
  });

  it('--overwrite never and if-newer keep existing files; if-changed trusts size and mtime', () => {
    run(['restore', 'latest', '--target', target, '--overwrite', 'never']);
    expect(fs.readFileSync(at(target, 'a.txt'), 'utf8')).toBe('ALPHA\n'.repeat(1000));
    const newer = new Date('2024-01-01T00:00:00Z');
    fs.utimesSync(at(target, 'a.txt'), newer, newer);
    run(['restore', 'latest', '--target', target, '--overwrite', 'if-newer']);
    expect(fs.readFileSync(at(target, 'a.txt'), 'utf8')).toBe('ALPHA\n'.repeat(1000));
    const original = new Date('2021-06-01T12:00:00Z');
    fs.utimesSync(at(target, 'a.txt'), original, original);
    const json = run(['restore', 'latest', '--target', target, '--overwrite', 'if-changed', '--json']);
    expect(fs.readFileSync(at(target, 'a.txt'), 'utf8')).toBe('ALPHA\n'.repeat(1000));
    const summary = JSON.parse(json.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(summary).toMatchObject({ message_type: 'summary', files_skipped: 2, bytes_skipped: 5 * 1000 + 6 * 1000 });
    const older = new Date('2020-01-01T00:00:00Z');
    fs.utimesSync(at(target, 'a.txt'), older, older);
    run(['restore', 'latest', '--target', target, '--overwrite', 'if-newer']);
    expect(fs.readFileSync(at(target, 'a.txt'), 'utf8')).toBe('alpha\n'.repeat(1000));
  });

  it('--delete leaves exactly the snapshot; restic 0.14 restores the same files', () => {
    fs.writeFileSync(at(target, 'a.txt'), 'ALPHA\n'.repeat(1000));
    const out = run(['restore', 'latest', '--target', target, '--delete']);
    expect(out).toMatch(/deleted 3 files\/dirs\n$/);
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const theirs = path.join(tmp.dir, 'theirs');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', theirs]);
    expect(listing(target)).toEqual(listing(theirs));
    expect(listing(at(target, ''))).toEqual(listing(src));
  });

  it('refuses bad combinations with restic words', () => {
    const bad = cli(['-r', repo, 'restore', 'latest', '--target', target, '--overwrite', 'sometimes'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid overwrite behavior "sometimes", must be one of (always|if-changed|if-newer|never)');
    const both = cli(['-r', repo, 'restore', 'latest', '--target', target, '--dry-run', '--verify'], env);
    expect(both.stderr).toBe('Fatal: --dry-run and --verify are mutually exclusive\n');
    const root = cli(['-r', repo, 'restore', 'latest', '--target', '/', '--delete'], env);
    expect(root.stderr).toBe("Fatal: '--target / --delete' must be combined with an include or exclude filter\n");
  });
});
