/**
 * Backup excludes behave like restic's: the same flags on the same tree give the same
 * set of paths in both tools' snapshots. And an unreadable file is a warning with exit
 * code 3 while the snapshot is still saved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'excl';
let tmp: ReturnType<typeof tempDir>;
let src: string;

beforeAll(() => {
  tmp = tempDir();
  src = path.join(tmp.dir, 'src');
  const w = (rel: string, data: string | Buffer = 'x') => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), data);
  };
  w('keep.txt');
  w('app.log');
  w('sub/deep/trace.log');
  w('sub/deep/keep.md');
  w('Upper.TMP');
  w('lower.tmp');
  w('cache/CACHEDIR.TAG', 'Signature: 8a477f597d28d172789f06886806bc55\n# cache\n');
  w('cache/data.bin');
  w('fake-cache/CACHEDIR.TAG', 'not a real tag\n');
  w('fake-cache/data.bin');
  w('tagged/.nobackup');
  w('tagged/inner/file');
  w('big.bin', Buffer.alloc(300 * 1024));
  w('node_modules/pkg/index.js');
  w('src/node_modules/x.js');
  w('build/out/a.o');
  fs.writeFileSync(path.join(tmp.dir, 'excludes.txt'), '# comment\n\nbuild\n**/node_modules\n');
});
afterAll(() => tmp.cleanup());

function lsPaths(repo: string, snap: string): string[] {
  return resticOk(repo, PASSWORD, ['ls', snap])
    .split('\n')
    .filter((l) => l.startsWith('/'))
    .sort();
}

describe('excludes', () => {
  it('exclude, iexclude, exclude-file, exclude-caches, exclude-if-present, exclude-larger-than match restic', () => {
    const repo = path.join(tmp.dir, 'repo');
    const flags = [
      '--exclude',
      '*.log',
      '--iexclude',
      '*.tmp',
      '--exclude-file',
      path.join(tmp.dir, 'excludes.txt'),
      '--exclude-caches',
      '--exclude-if-present',
      '.nobackup',
      '--exclude-larger-than',
      '200k',
    ];
    expect(cli(['-r', repo, 'init'], { RESTIC_PASSWORD: PASSWORD }).code).toBe(0);
    resticOk(repo, PASSWORD, ['backup', '--host', 'restic', ...flags, src]);
    const r = cli(['-r', repo, 'backup', '--host', 'ours', ...flags, src], { RESTIC_PASSWORD: PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const snaps = JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json'])) as Array<{
      id: string;
      hostname: string;
      excludes?: string[];
    }>;
    const theirs = snaps.find((s) => s.hostname === 'restic')!;
    const ours = snaps.find((s) => s.hostname === 'ours')!;
    const expected = lsPaths(repo, theirs.id);
    expect(lsPaths(repo, ours.id)).toEqual(expected);
    // sanity: the excludes did something, and kept what they should
    expect(expected.some((p) => p.endsWith('app.log'))).toBe(false);
    expect(expected.some((p) => p.endsWith('keep.md'))).toBe(true);
    expect(expected.some((p) => p.endsWith('/src/cache/CACHEDIR.TAG'))).toBe(true);
    expect(expected.some((p) => p.endsWith('/src/cache/data.bin'))).toBe(false);
    expect(expected.some((p) => p.endsWith('fake-cache/data.bin'))).toBe(true);
  });

  it('an unreadable file is a warning, exit code 3, and the snapshot is saved', () => {
    const repo = path.join(tmp.dir, 'repo3');
    const env = { RESTIC_PASSWORD: PASSWORD };
    expect(cli(['-r', repo, 'init'], env).code).toBe(0);
    // /proc/self/mem: lstat and open work, read fails with EIO
    const r = cli(['-r', repo, 'backup', path.join(src, 'keep.txt'), '/proc/self/mem'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/mem.*(EIO|i\/o error)/i);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const list = JSON.parse(cli(['-r', repo, 'snapshots', '--json'], env).stdout);
    expect(list).toHaveLength(1);
  });
});
