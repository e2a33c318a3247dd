/**
 * Newer restic's backup flags (0.15–0.19): --dry-run writes nothing, --files-from* pick the
 * targets, --skip-if-unchanged saves no snapshot, --ignore-inode/--ignore-ctime change what
 * counts as modified, --with-atime stores atimes, --stdin-from-command stores a command's
 * output (and a failing command saves nothing). restic 0.14 checks and restores the result.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const PASSWORD = 'parity-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

const ours = (args: string[], input?: string) => {
  const r = cli(['-r', repo, ...args], env, input);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};
const filesIn = (dir: string): string[] =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => e.name)
    : [];
const summary = (out: string) =>
  JSON.parse(out.trim().split('\n').at(-1)!) as {
    files_unmodified: number;
    files_changed: number;
    snapshot_id?: string;
    dry_run?: boolean;
  };
const snapshotCount = () => filesIn(path.join(repo, 'snapshots')).length;

beforeAll(() => {
  tmp = tempDir('backup-parity-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  for (const n of ['a.txt', 'b.txt', 'c.log']) fs.writeFileSync(path.join(src, n), `content of ${n}\n`.repeat(100));
  fs.writeFileSync(path.join(src, 'sub', 'd.bin'), Buffer.alloc(300_000, 7));
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
});
afterAll(() => tmp.cleanup());

describe('backup parity flags', () => {
  it('--dry-run reports what would be added and writes nothing', () => {
    const text = ours(['backup', '--dry-run', src]);
    expect(text.stdout).toContain('Would add to the repository:');
    expect(text.stdout).not.toMatch(/snapshot \w+ saved/);
    const json = summary(ours(['backup', '-n', '--json', src]).stdout);
    expect(json.dry_run).toBe(true);
    for (const d of ['snapshots', 'data', 'index', 'locks']) expect(filesIn(path.join(repo, d)), d).toEqual([]);
    const stdin = ours(['backup', '--dry-run', '--stdin', '--stdin-filename', 'x'], 'stdin data');
    expect(stdin.stdout).not.toMatch(/saved/);
    expect(filesIn(path.join(repo, 'data'))).toEqual([]);
  });

  it('--files-from, --files-from-verbatim and --files-from-raw choose the targets', () => {
    const list = path.join(tmp.dir, 'list');
    fs.writeFileSync(list, `# a comment\n\n  ${src}/*.txt  \n${src}/nothing-*\n`);
    const verbatim = path.join(tmp.dir, 'verbatim');
    fs.writeFileSync(verbatim, `${src}/sub\r\n`);
    const raw = path.join(tmp.dir, 'raw');
    fs.writeFileSync(raw, `${src}/c.log\0`);
    const r = ours(['backup', '--json', '--files-from', list, '--files-from-verbatim', verbatim, '--files-from-raw', raw]);
    expect(r.stderr).toContain(`pattern "${src}/nothing-*" does not match any files, skipping`);
    const snaps = JSON.parse(ours(['snapshots', '--json']).stdout) as Array<{ paths: string[] }>;
    expect(snaps).toHaveLength(1);
    expect([...snaps[0]!.paths].sort()).toEqual([`${src}/a.txt`, `${src}/b.txt`, `${src}/c.log`, `${src}/sub`].sort());
    fs.writeFileSync(raw, `${src}/c.log`);
    const bad = cli(['-r', repo, 'backup', '--files-from-raw', raw], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--files-from-raw: trailing zero byte missing');
  });

  it('--skip-if-unchanged saves no snapshot when nothing changed', () => {
    // "." in src: the tree holds src's entries only, not its ancestors (whose times other
    // processes change, e.g. /tmp's), so "unchanged" depends on src alone
    const inSrc = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, '-r', repo, ...args], {
        cwd: src,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RESTIC_PASSWORD: PASSWORD },
        encoding: 'utf8',
      });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    inSrc(['backup', '.']);
    const before = snapshotCount();
    expect(inSrc(['backup', '--skip-if-unchanged', '.'])).toContain('skipped creating snapshot');
    const json = summary(inSrc(['backup', '--skip-if-unchanged', '--json', '.']));
    expect(json.snapshot_id).toBeUndefined();
    expect(snapshotCount()).toBe(before);
    fs.appendFileSync(path.join(src, 'b.txt'), 'more\n');
    inSrc(['backup', '--skip-if-unchanged', '.']);
    expect(snapshotCount()).toBe(before + 1);
  });

  it('--ignore-inode and --ignore-ctime keep files with a new inode or ctime unmodified', () => {
    const a = path.join(src, 'a.txt');
    const mtime = new Date('2022-02-02T02:02:02Z'); // whole seconds: utimes keeps them exactly
    fs.utimesSync(a, mtime, mtime);
    ours(['backup', src]);
    // a new inode (and ctime) with the same content, size and mtime
    fs.copyFileSync(a, a + '.tmp');
    fs.utimesSync(a + '.tmp', mtime, mtime);
    fs.renameSync(a + '.tmp', a);
    expect(summary(ours(['backup', '--json', '--ignore-inode', src]).stdout)).toMatchObject({ files_unmodified: 4, files_changed: 0 });
    fs.chmodSync(a, 0o600); // only the ctime changes
    expect(summary(ours(['backup', '--json', '--ignore-ctime', src]).stdout)).toMatchObject({ files_unmodified: 4, files_changed: 0 });
    fs.chmodSync(a, 0o644);
    expect(summary(ours(['backup', '--json', src]).stdout)).toMatchObject({ files_unmodified: 3, files_changed: 1 });
  });

  it('--with-atime stores the atime; by default atime = mtime', () => {
    const c = path.join(src, 'c.log');
    fs.utimesSync(c, new Date('2020-05-05T05:05:05Z'), new Date('2021-01-01T00:00:00Z'));
    ours(['backup', '--with-atime', src]);
    const node = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { path?: string; atime?: string; mtime?: string })
        .find((n) => n.path === `${src}/c.log`)!;
    const withAtime = node(resticOk(repo, PASSWORD, ['--no-lock', 'ls', '--json', 'latest']));
    expect(Date.parse(withAtime.atime!)).toBe(Date.parse('2020-05-05T05:05:05Z'));
    ours(['backup', '--force', src]);
    const without = node(resticOk(repo, PASSWORD, ['--no-lock', 'ls', '--json', 'latest']));
    expect(without.atime).toBe(without.mtime);
  });

  it('--stdin-from-command stores the output; a failing command saves nothing', () => {
    const r = ours([
      'backup',
      '--json',
      '--stdin-from-command',
      '--stdin-filename',
      'dump.sql',
      '--',
      'sh',
      '-c',
      'echo "from the command"',
    ]);
    expect(summary(r.stdout).snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    expect(resticOk(repo, PASSWORD, ['--no-lock', 'dump', 'latest', '/dump.sql'])).toBe('from the command\n');
    const before = snapshotCount();
    const bad = cli(['-r', repo, 'backup', '--stdin-from-command', '--', 'sh', '-c', 'echo partial; echo oops >&2; exit 3'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('subprocess sh: oops');
    expect(bad.stderr).toContain('command failed: exit status 3');
    expect(snapshotCount()).toBe(before);
    const mixed = cli(['-r', repo, 'backup', '--stdin', '--files-from', '/dev/null'], env);
    expect(mixed.stderr).toContain('--stdin and --files-from cannot be used together');
  });

  it('restic 0.14 checks the repository and restores the last backup', () => {
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'restored');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--path', src, '--target', target]);
    for (const n of ['a.txt', 'b.txt', 'c.log', 'sub/d.bin'])
      expect(fs.readFileSync(path.join(target, src, n)).equals(fs.readFileSync(path.join(src, n))), n).toBe(true);
  });
});
