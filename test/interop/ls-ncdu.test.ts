/**
 * `ls --ncdu` (restic ≥ 0.17): ncdu's JSON export (format 1.2) of a snapshot. The
 * document parses as JSON, nests directories as ncdu expects, and lists the same entries
 * (names, sizes, types, permissions) as restic 0.14's `ls --json` of the snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'ncdu-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;

type NcduEntry = { name: string; asize: number; dsize: number; ino: number; mode: number; notreg: boolean; nlink: number };
interface NcduDir extends Array<NcduEntry | NcduDir> {
  0: NcduEntry;
}

beforeAll(() => {
  tmp = tempDir('ls-ncdu-');
  repo = path.join(tmp.dir, 'repo');
  const src = path.join(tmp.dir, 'src');
  fs.mkdirSync(path.join(src, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(src, 'small'), 'x');
  fs.writeFileSync(path.join(src, 'sub', 'big'), Buffer.alloc(5000, 1));
  fs.writeFileSync(path.join(src, 'sub', 'deeper', 'empty'), '');
  fs.symlinkSync('small', path.join(src, 'link'));
  fs.chmodSync(path.join(src, 'sub'), 0o2755);
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  expect(cli(['-r', repo, 'backup', src], env).code).toBe(0);
});
afterAll(() => tmp.cleanup());

/** path → entry, walking ncdu's nested arrays */
function flatten(dir: NcduDir, prefix: string, out: Map<string, NcduEntry>): void {
  for (const c of dir.slice(1)) {
    if (Array.isArray(c)) {
      out.set(prefix + '/' + c[0].name, c[0]);
      flatten(c, prefix + '/' + c[0].name, out);
    } else out.set(prefix + '/' + c.name, c);
  }
}

describe('ls --ncdu', () => {
  it('writes ncdu 1.2 export with the entries restic lists', () => {
    const r = cli(['-r', repo, 'ls', '--ncdu', 'latest'], env);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as [number, number, { paths: string[] }, NcduDir];
    expect(doc.slice(0, 2)).toEqual([1, 2]);
    expect(doc[3][0]).toEqual({ name: '/' });
    const ours = new Map<string, NcduEntry>();
    flatten(doc[3], '', ours);
    const theirs = resticOk(repo, PASSWORD, ['--no-lock', 'ls', '--json', 'latest'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { struct_type: string; path: string; type: string; size?: number; mode: number })
      .filter((n) => n.struct_type === 'node');
    expect([...ours.keys()].sort()).toEqual(theirs.map((n) => n.path).sort());
    for (const n of theirs) {
      const e = ours.get(n.path)!;
      expect(e.asize, n.path).toBe(n.type === 'file' ? n.size : 0);
      expect(e.dsize, n.path).toBe(Math.ceil(e.asize / 512) * 512);
      expect(e.mode & 0o777, n.path).toBe(n.mode & 0o777);
      expect(e.notreg, n.path).toBe(n.type !== 'file' && n.type !== 'dir');
    }
    const sub = [...ours.entries()].find(([p]) => p.endsWith('/src/sub'))![1];
    expect(sub.mode).toBe(0o2755);
  });

  it('is refused together with --json', () => {
    const r = cli(['-r', repo, '--json', 'ls', '--ncdu', 'latest'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("only either '--json' or '--ncdu' can be specified");
  });
});
