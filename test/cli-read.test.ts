/**
 * The read commands (ls, cat, dump, find, diff, stats) print what restic 0.14 prints on the
 * same repository: one repository holding a snapshot made by restic-ts and one made by restic.
 * Text output is compared byte for byte; JSON that restic pretty-prints is compared parsed.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SCRYPT } from './helpers/cli.js';
import { RESTIC } from './helpers/restic.js';
import { pseudoRandom } from './helpers/gentree.js';
import { tempDir } from './helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');
const PASSWORD = 'reader';
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;
let snap1: string; // ours
let snap2: string; // restic's, child of snap1

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(cmd, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_PASSWORD: PASSWORD, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...env },
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}
const ours = (args: string[]) => run(process.execPath, [CLI, '-r', repo, ...args]);
const theirs = (args: string[]) => run(RESTIC, ['-r', repo, '--no-cache', ...args]);

/** Both tools succeed and print the same bytes. */
function same(args: string[]): Buffer {
  const t = theirs(args);
  expect(t.code, `restic ${args.join(' ')}: ${t.stderr}`).toBe(0);
  const o = ours(args);
  expect(o.code, `restic-ts ${args.join(' ')}: ${o.stderr}`).toBe(0);
  expect(o.stdout.toString('latin1'), args.join(' ')).toBe(t.stdout.toString('latin1'));
  return o.stdout;
}

/** Both tools succeed and print equal JSON documents (restic pretty-prints some). */
function sameJson(args: string[], oursArgs = args): unknown {
  const t = theirs(args);
  expect(t.code, `restic ${args.join(' ')}: ${t.stderr}`).toBe(0);
  const o = ours(oursArgs);
  expect(o.code, `restic-ts ${oursArgs.join(' ')}: ${o.stderr}`).toBe(0);
  const parse = (b: Buffer) => JSON.parse(b.toString('utf8'));
  expect(parse(o.stdout), args.join(' ')).toEqual(parse(t.stdout));
  return parse(o.stdout);
}

const t0 = 1_650_000_000;
function setTime(p: string, i: number): void {
  fs.lutimesSync(p, t0 + i * 86_400, t0 + i * 86_400);
}

beforeAll(() => {
  tmp = tempDir();
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  const files: Array<[string, Buffer | string]> = [
    ['docs/readme.txt', 'read me\n'],
    ['docs/Notes.MD', 'notes\n'],
    ['docs/empty', ''],
    ['data/big.bin', pseudoRandom('big', 5 * 1024 * 1024 + 17)], // several chunks
    ['data/small.bin', pseudoRandom('small', 1000)],
    ['data/dup-a', 'duplicate content\n'],
    ['data/dup-b', 'duplicate content\n'],
    ['deep/1/2/3/leaf.txt', 'leaf\n'],
    ['ünïcode/日本語.txt', 'unicode\n'],
    ['gone/old.txt', 'will be removed\n'],
  ];
  for (const [i, [rel, content]] of files.entries()) {
    const p = path.join(src, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    setTime(p, i);
  }
  fs.chmodSync(path.join(src, 'data/small.bin'), 0o600);
  fs.symlinkSync('docs/readme.txt', path.join(src, 'link'));
  setTime(path.join(src, 'link'), 20);
  for (const d of ['docs', 'data', 'deep/1/2/3', 'deep/1/2', 'deep/1', 'deep', 'ünïcode', 'gone', '.']) setTime(path.join(src, d), 30);

  expect(run(process.execPath, [CLI, '-r', repo, 'init']).code).toBe(0);
  const b1 = run(process.execPath, [CLI, '-r', repo, '--json', 'backup', '--time', '2022-05-01 10:00:00', src]);
  expect(b1.code, b1.stderr).toBe(0);
  snap1 = JSON.parse(b1.stdout.toString().trim().split('\n').pop()!).snapshot_id;

  // restic's own snapshot of a changed tree: one file changed, one added, one removed, a mode changed
  fs.writeFileSync(path.join(src, 'docs/readme.txt'), 'read me, changed\n');
  setTime(path.join(src, 'docs/readme.txt'), 40);
  fs.writeFileSync(path.join(src, 'docs/new.txt'), 'new\n');
  setTime(path.join(src, 'docs/new.txt'), 41);
  fs.rmSync(path.join(src, 'gone'), { recursive: true });
  fs.chmodSync(path.join(src, 'data/dup-b'), 0o640);
  for (const d of ['docs', '.']) setTime(path.join(src, d), 42);
  const b2 = run(RESTIC, ['-r', repo, '--no-cache', '--json', 'backup', '--time', '2022-06-01 10:00:00', src]);
  expect(b2.code, b2.stderr).toBe(0);
  snap2 = JSON.parse(b2.stdout.toString().trim().split('\n').pop()!).snapshot_id;
});
afterAll(() => tmp.cleanup());

describe('ls', () => {
  it('text, -l, --json and path filters equal restic', () => {
    for (const snap of [snap1.slice(0, 8), snap2]) {
      same(['ls', snap]);
      same(['ls', '-l', snap]);
      same(['ls', '--long', snap, `${src}/docs`, `${src}/data`]);
      same(['ls', '--recursive', snap, `${src}/deep`]);
      const json = same(['ls', '--json', snap]);
      // NDJSON: a snapshot line, then one line per node
      const lines = json.toString().trim().split('\n').map((l) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ struct_type: 'snapshot' });
      expect(lines.slice(1).every((l) => l.struct_type === 'node')).toBe(true);
    }
    // a snapshot that cannot be found is a warning, as in restic 0.14
    same(['ls', 'latest', '--host', 'no-such-host']);
    same(['ls', 'ffffffff']);
    expect(ours(['ls', 'latest', '--host', 'no-such-host']).stderr).toBe(theirs(['ls', 'latest', '--host', 'no-such-host']).stderr);
  });
});

describe('cat', () => {
  it('config, index, snapshot, key, masterkey, pack, blob and tree equal restic', () => {
    sameJson(['cat', 'config']);
    sameJson(['cat', 'masterkey']);
    for (const key of fs.readdirSync(path.join(repo, 'keys'))) sameJson(['cat', 'key', key]);
    for (const idx of fs.readdirSync(path.join(repo, 'index'))) sameJson(['cat', 'index', idx]);
    const snap = sameJson(['cat', 'snapshot', snap2]) as { tree: string };
    sameJson(['cat', 'snapshot', snap1.slice(0, 8)]);
    // restic 0.14 has no `cat tree`; its `cat blob` of a tree blob prints the same JSON
    sameJson(['cat', 'blob', snap.tree], ['cat', 'tree', snap.tree]);
    same(['cat', 'blob', snap.tree]);
    const packs = fs.readdirSync(path.join(repo, 'data')).flatMap((d) => fs.readdirSync(path.join(repo, 'data', d)));
    expect(packs.length).toBeGreaterThan(1);
    for (const pack of packs.slice(0, 3)) {
      const bytes = same(['cat', 'pack', pack]);
      expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(pack);
    }
    const data = theirs(['list', 'blobs']).stdout.toString().split('\n').filter((l) => l.startsWith('data ')).map((l) => l.slice(5));
    for (const id of data.slice(0, 5)) {
      const bytes = same(['cat', 'blob', id]);
      expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(id);
    }
  });

  it('unknown types and IDs fail like restic', () => {
    for (const args of [['cat'], ['cat', 'frob', 'x'], ['cat', 'snapshot', 'ffffffff'], ['cat', 'blob', '00'.repeat(32)]]) {
      expect(theirs(args).code, args.join(' ')).toBe(1);
      const o = ours(args);
      expect(o.code, args.join(' ')).toBe(1);
      expect(o.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});

/** Type, mode, content hash and symlink target of every entry below `root`. */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = path.join(rel, name);
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `link ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(r);
      } else out[r] = `file ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
    }
  };
  walk('');
  return out;
}

describe('dump', () => {
  it('a file prints the same bytes; a directory as tar and zip extracts to what restic dumps', () => {
    for (const f of ['data/big.bin', 'docs/empty', 'ünïcode/日本語.txt']) {
      const bytes = same(['dump', snap2, `${src}/${f}`]);
      expect(bytes.equals(fs.readFileSync(path.join(src, f)))).toBe(true);
    }
    for (const archive of ['tar', 'zip'] as const) {
      for (const sub of [`${src}`, `${src}/docs`, '/']) {
        const dirs: Record<string, Record<string, string>> = {};
        for (const [who, fn] of [['restic', theirs], ['ours', ours]] as const) {
          const r = fn(['dump', '--archive', archive, snap2, sub]);
          expect(r.code, `${who} dump ${archive} ${sub}: ${r.stderr}`).toBe(0);
          const file = path.join(tmp.dir, `${who}.${archive}`);
          fs.writeFileSync(file, r.stdout);
          const out = path.join(tmp.dir, `x-${who}-${archive}`);
          fs.rmSync(out, { recursive: true, force: true });
          fs.mkdirSync(out);
          const x = archive === 'tar' ? run('tar', ['-xf', file, '-C', out]) : run('unzip', ['-q', file, '-d', out]);
          expect(x.code, `${who} ${archive}: ${x.stderr}`).toBe(0);
          dirs[who] = treeOf(out);
          if (archive === 'zip') {
            // python's zipfile reads the same member list (names, sizes, CRCs, modes, times)
            const py = run('python3', ['-c', 'import sys,zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.file_size, i.CRC, oct(i.external_attr>>16), i.date_time)', file]);
            expect(py.code, py.stderr).toBe(0);
            dirs[`${who}-py`] = { list: py.stdout.toString() };
          }
        }
        expect(Object.keys(dirs['ours']!).length).toBeGreaterThan(2);
        expect(dirs['ours'], `${archive} ${sub}`).toEqual(dirs['restic']);
        if (archive === 'zip') expect(dirs['ours-py']).toEqual(dirs['restic-py']);
      }
    }
  });
});

describe('find', () => {
  it('names, patterns, -i, time limits, --blob/--tree/--pack and --json equal restic', () => {
    const blobs = theirs(['list', 'blobs']).stdout.toString().trim().split('\n').map((l) => l.split(' ') as [string, string]);
    const data = blobs.filter(([t]) => t === 'data').map(([, id]) => id);
    const trees = blobs.filter(([t]) => t === 'tree').map(([, id]) => id);
    const pack = fs.readdirSync(path.join(repo, 'data')).flatMap((d) => fs.readdirSync(path.join(repo, 'data', d)))[0]!;
    const cases: string[][] = [
      ['find', 'readme.txt'],
      ['find', '*.txt', 'dup-*'],
      ['find', '-i', 'notes.md'],
      ['find', '--ignore-case', 'README.TXT'],
      ['find', '--pattern', 'leaf.txt'],
      ['find', '-l', '*'],
      ['find', '--long', '*'],
      ['find', '--oldest', '2022-04-20', '*'],
      ['find', '--newest', '2022-04-20 12:00:00', '*'],
      ['find', '--path', src, 'new.txt'],
      ['find', '--blob', data[0]!, data[1]!],
      ['find', '--show-pack-id', '--blob', data[2]!],
      ['find', '--tree', ...trees.slice(0, 3)],
      ['find', '--pack', pack],
      ['find', 'no-such-name'],
    ];
    for (const args of cases) {
      // restic loads snapshots in parallel, so their order is not defined: compare per snapshot
      // byte for byte, and all snapshots at once as a set of lines / JSON objects
      for (const sn of [snap1, snap2]) {
        same([...args, '--snapshot', sn]);
        same(['--json', ...args, '--snapshot', sn.slice(0, 8)]);
      }
      const lines = (r: Run) => r.stdout.toString('latin1').split('\n').sort();
      expect(lines(ours(args)), args.join(' ')).toEqual(lines(theirs(args)));
      const objects = (r: Run) => (JSON.parse(r.stdout.toString()) as unknown[]).map((o) => JSON.stringify(o)).sort();
      expect(objects(ours(['--json', ...args])), args.join(' ')).toEqual(objects(theirs(['--json', ...args])));
    }
  });
});

describe('diff', () => {
  it('text and --json, with and without --metadata, equal restic', () => {
    for (const pair of [[snap1, snap2], [snap2.slice(0, 8), snap1.slice(0, 8)]]) {
      same(['diff', ...pair]);
      same(['diff', '--metadata', ...pair]);
      same(['--json', 'diff', ...pair]);
      same(['--json', 'diff', '--metadata', ...pair]);
    }
    same(['diff', `${snap1.slice(0, 8)}`, `${snap1.slice(0, 8)}`]);
  });
});

describe('stats', () => {
  it('every --mode, text and --json, equal restic', () => {
    for (const mode of ['restore-size', 'files-by-contents', 'raw-data', 'blobs-per-file']) {
      same(['stats', '--mode', mode]);
      same(['--json', 'stats', '--mode', mode]);
      same(['stats', '--mode', mode, snap1.slice(0, 8)]);
      same(['--json', 'stats', '--mode', mode, 'latest', snap1]);
    }
    same(['stats']);
  });
});
