/**
 * Issue 16 items 1–9: behaviour gaps against restic found on real data, each checked here
 * against the real restic 0.14 binary on the same input (or, where 0.14 lacks a feature, the
 * newer restic's format: the snapshot summary of restic ≥ 0.17).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local.js';
import { Repository } from '../../src/repository/repository.js';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

const PASSWORD = 'parity';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let n = 0;

beforeAll(() => {
  tmp = tempDir('parity-');
});
afterAll(() => tmp.cleanup());

/** A fresh repository (our init, cheap key) in its own directory. */
function newRepo(): string {
  const repo = path.join(tmp.dir, 'repos', `r${n++}`);
  const r = cli(['-r', repo, 'init'], env);
  expect(r.code, r.stderr).toBe(0);
  return repo;
}

/** A fresh source directory whose parents only this test touches. */
function newSource(files: Record<string, string>): string {
  const src = path.join(tmp.dir, 'src', `s${n++}`);
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
    fs.writeFileSync(path.join(src, p), content);
  }
  return src;
}

const ours = (repo: string, args: string[], input?: string) => cli(['-r', repo, ...args], env, input);
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
function theirsWithInput(repo: string, args: string[], input: string): string {
  const r = spawnSync('restic', ['-r', repo, '--no-cache', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_PASSWORD: PASSWORD },
    input,
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('1: restore keeps modification times before 1970', () => {
  it('files, directories and symlinks get their recorded time (to the microsecond), not the restore time', () => {
    const src = newSource({ 'old.txt': 'old', 'dir/inner': 'x' });
    fs.symlinkSync('old.txt', path.join(src, 'link'));
    const stamp = (p: string, t: string) => expect(spawnSync('touch', ['-h', '-d', t, path.join(src, p)]).status).toBe(0);
    stamp('old.txt', '1966-02-02 12:00:00.123456789');
    stamp('link', '1969-12-31 23:59:59.5');
    stamp('dir/inner', '1901-01-01 00:00:01');
    stamp('dir', '1950-06-15 08:30:00.000000999');
    const repo = newRepo();
    resticOk(repo, PASSWORD, ['backup', src]);
    const target = path.join(tmp.dir, 'restore-old');
    const r = ours(repo, ['restore', 'latest', '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    // libuv sets microseconds: the recorded time cut to the microsecond (toward the past)
    const micro = (ns: bigint) => ns - (((ns % 1000n) + 1000n) % 1000n);
    for (const p of ['old.txt', 'link', 'dir/inner', 'dir']) {
      const want = fs.lstatSync(path.join(src, p), { bigint: true }).mtimeNs;
      expect(want < 0n).toBe(true);
      expect(fs.lstatSync(path.join(target, src, p), { bigint: true }).mtimeNs, p).toBe(micro(want));
    }
  });
});

describe('2 and 6: snapshots', () => {
  let repo: string;
  beforeAll(() => {
    repo = newRepo();
    const a = newSource({ f: 'a' });
    const b = newSource({ f: 'b' });
    for (const [host, time, targets] of [
      ['h1', '2026-01-01 10:00:00', [b, a]],
      ['h2', '2026-01-02 10:00:00', [a]],
      ['h1', '2026-01-03 10:00:00', [b, a]],
      ['h2', '2026-01-04 10:00:00', [b]],
    ] as const) {
      const r = ours(repo, ['backup', '--host', host, '--time', time, ...targets]);
      expect(r.code, r.stderr).toBe(0);
    }
  });
  // restic 0.14 knows neither program_version (0.16) nor summary (0.17)
  const ourJson = (args: string[]) =>
    JSON.parse(ours(repo, ['snapshots', '--json', ...args]).stdout, (k, v) => (k === 'program_version' || k === 'summary' ? undefined : v));
  const theirJson = (args: string[]) => JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json', ...args]));

  it.each([[['latest']], [['latest', '--host', 'h1']], [['--host', 'h2', 'latest']], [['latest', 'latest']]])(
    '`snapshots %j` shows what restic shows',
    (args) => {
      const o = ourJson(args);
      expect(o.length).toBe(1);
      expect(o).toEqual(theirJson(args));
    },
  );

  it('`snapshots latest` prints one snapshot as text', () => {
    const r = ours(repo, ['snapshots', 'latest']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n1 snapshots\n/);
  });

  it('paths are sorted, in text and JSON, as restic prints them', () => {
    const o = ourJson([]);
    expect(o).toEqual(theirJson([]));
    const twoPaths = o.filter((s: { paths: string[] }) => s.paths.length === 2);
    expect(twoPaths.length).toBe(2);
    for (const s of twoPaths) expect(s.paths).toEqual([...s.paths].sort());
    // stored in the order given (b before a), shown sorted
    const text = ours(repo, ['snapshots', '--host', 'h1']).stdout;
    const [first, second] = (ourJson(['--host', 'h1'])[0] as { paths: string[] }).paths;
    expect(text.indexOf(first!)).toBeLessThan(text.indexOf(second!));
    expect(ourJson(['--group-by', 'paths'])).toEqual(expect.arrayContaining([expect.objectContaining({ group_key: expect.anything() })]));
  });
});

describe('6: the snapshots table', () => {
  it("is restic's (restic ≥ 0.17 adds the zone line, and a Size column for snapshots with a summary)", () => {
    const repo = newRepo();
    const a = newSource({ f: 'a' });
    const b = newSource({ f: 'bb' });
    resticOk(repo, PASSWORD, ['backup', '--host', 'a-long-host-name', b, a]);
    resticOk(repo, PASSWORD, ['backup', '--tag', 'x,y', a]);
    const zoneLine = /^Timestamps shown in .*\n/gm;
    for (const args of [[], ['--compact'], ['--group-by', 'host,tags']]) {
      const o = ours(repo, ['snapshots', ...args]);
      expect(o.code).toBe(0);
      expect(o.stdout).toMatch(zoneLine);
      // groups come in Go's map order (random): compare them as a set
      const groups = (t: string) => t.split(/^(?=snapshots for )/m).sort();
      expect(groups(o.stdout.replace(zoneLine, '')), args.join(' ')).toEqual(groups(resticOk(repo, PASSWORD, ['snapshots', ...args])));
    }
    // a snapshot with a summary (ours) gets restic 0.17's Size column: its bytes processed
    expect(ours(repo, ['backup', a]).code).toBe(0);
    const withSize = ours(repo, ['snapshots']).stdout.split('\n');
    expect(withSize[0]).toMatch(/^ID +Time +Host +Tags +Paths +Size$/);
    expect(withSize.some((l) => / 1 B$/.test(l))).toBe(true);
  });
});

describe('3, 7 and 8: backup output', () => {
  const verbose = (out: string) =>
    jsonLines(out)
      .filter((m) => m.message_type === 'verbose_status')
      .sort((x, y) => String(x.item).localeCompare(String(y.item)));
  const summary = (out: string) => jsonLines(out).find((m) => m.message_type === 'summary')!;
  const COUNTS = [
    'files_new',
    'files_changed',
    'files_unmodified',
    'dirs_new',
    'dirs_changed',
    'dirs_unmodified',
    'data_blobs',
    'tree_blobs',
  ];
  const counts = (s: Record<string, unknown>) => Object.fromEntries(COUNTS.map((k) => [k, s[k]]));

  it("-v --json prints a verbose_status per item, and the summary counts the target's parent directories, as restic", () => {
    // a relative target "top/mid" run from src: restic stores "top" as the parent directory of
    // mid (as it does for /tmp above an absolute target), and only this test writes there
    const src = newSource({ 'top/mid/a': 'aaa', 'top/mid/d/b': 'bb', 'top/mid/d/e/c': 'c', 'top/other': 'not backed up' });
    const mine = newRepo();
    const theirs = newRepo();
    const run = () => {
      const args = ['-v', '--json', 'backup', 'top/mid'];
      const o = spawnSync(process.execPath, [CLI, '-r', mine, ...args], { cwd: src, env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(o.status, o.stderr).toBe(0);
      const t = spawnSync('restic', ['-r', theirs, '--no-cache', ...args], { cwd: src, env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      return { o: o.stdout, t: t.stdout };
    };
    const check = ({ o, t }: { o: string; t: string }) => {
      const vo = verbose(o);
      const vt = verbose(t);
      expect(vo.map((m) => [m.action, m.item])).toEqual(vt.map((m) => [m.action, m.item]));
      for (let i = 0; i < vo.length; i++) {
        expect(Object.keys(vo[i]!)).toEqual(Object.keys(vt[i]!));
        // a file's data is the same bytes in both repositories; directories record their tree
        if (!String(vo[i]!.item).endsWith('/')) expect(vo[i]!.data_size).toBe(vt[i]!.data_size);
        else if (vo[i]!.action === 'new') expect(vo[i]!.metadata_size).toBeGreaterThan(0);
      }
      expect(counts(summary(o))).toEqual(counts(summary(t)));
    };
    const first = run();
    check(first);
    // top, mid, d, e: the parent directory "top" is counted as restic counts it
    expect(summary(first.o).dirs_new).toBe(4);
    expect(verbose(first.o).map((m) => m.item)).toContain('/top/');
    check(run()); // unchanged
    fs.writeFileSync(path.join(src, 'top/mid/d/b'), 'changed');
    fs.chmodSync(path.join(src, 'top/mid/d/e'), 0o700);
    check(run()); // one file modified, a directory's mode changed
  });

  it('-v prints restic\'s progress lines: "open repository", "using parent snapshot …", …', () => {
    const src = newSource({ f: 'x' });
    const repo = newRepo();
    const first = ours(repo, ['-v', 'backup', src]);
    expect(first.code, first.stderr).toBe(0);
    const head = (out: string) =>
      out
        .slice(0, out.indexOf('\nFiles:'))
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('scan finished')); // restic's scanner line comes when it is done
    const latest = () => (JSON.parse(ours(repo, ['snapshots', '--json']).stdout) as Array<{ short_id: string }>).pop()!.short_id;
    const p1 = latest();
    const t = head(resticOk(repo, PASSWORD, ['-v', 'backup', src]));
    const p2 = latest();
    const o = head(ours(repo, ['-v', 'backup', src]).stdout);
    expect(t).toContain(`using parent snapshot ${p1}`);
    expect(o).toContain(`using parent snapshot ${p2}`);
    expect(o).toEqual(t.map((l) => l.replace(p1, p2)));
    expect(head(first.stdout)).toContain('no parent snapshot found, will read all files');
  });
});

describe('4 and 8: backup --stdin', () => {
  it("--json summary has all of restic's fields and counts; the file node looks like restic's", () => {
    const mine = newRepo();
    const theirs = newRepo();
    const data = 'stdin data\n'.repeat(1000);
    const o = ours(mine, ['--json', 'backup', '--stdin', '--stdin-filename', 'dir/dump.sql'], data);
    expect(o.code, o.stderr).toBe(0);
    const t = theirsWithInput(theirs, ['--json', 'backup', '--stdin', '--stdin-filename', 'dir/dump.sql'], data);
    const so = jsonLines(o.stdout).find((m) => m.message_type === 'summary')!;
    const st = jsonLines(t).find((m) => m.message_type === 'summary')!;
    for (const k of Object.keys(st)) expect(so, k).toHaveProperty(k);
    for (const k of [
      'files_new',
      'files_changed',
      'files_unmodified',
      'dirs_new',
      'dirs_changed',
      'dirs_unmodified',
      'data_blobs',
      'tree_blobs',
    ]) {
      expect(so[k], k).toBe(st[k]);
    }
    expect(so.total_files_processed).toBe(st.total_files_processed);
    expect(so.total_bytes_processed).toBe(data.length);
    const nodes = (repo: string) =>
      jsonLines(resticOk(repo, PASSWORD, ['ls', '--json', 'latest']))
        .filter((m) => m.struct_type === 'node')
        .map(({ mtime, atime, ctime, ...rest }) => (expect(mtime).toBe(atime), expect(ctime).toBe(mtime), rest));
    expect(nodes(mine)).toEqual(nodes(theirs));
  });
});

describe('5: missing backup targets', () => {
  it("are skipped with restic's warning and left out of the snapshot; all missing is fatal", () => {
    const src = newSource({ f: 'x' });
    const missing = path.join(tmp.dir, 'does-not-exist');
    const mine = newRepo();
    const theirs = newRepo();
    const o = ours(mine, ['backup', src, missing]);
    const t = restic(theirs, PASSWORD, ['backup', src, missing]);
    expect(o.code).toBe(t.code);
    expect(o.code).toBe(0);
    expect(o.stderr).toBe(`${missing} does not exist, skipping\n`);
    expect(t.stderr).toContain(`${missing} does not exist, skipping\n`);
    const paths = (repo: string) => (JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json'])) as Array<{ paths: string[] }>)[0]!.paths;
    expect(paths(mine)).toEqual(paths(theirs));
    expect(paths(mine)).toEqual([src]);

    const all = ours(mine, ['backup', missing]);
    const allT = restic(theirs, PASSWORD, ['backup', missing]);
    expect(all.code).toBe(allT.code);
    expect(all.stderr).toBe(allT.stderr);
    expect(all.stderr).toBe(`${missing} does not exist, skipping\nFatal: all target directories/files do not exist\n`);
  });
});

describe('8: check', () => {
  it("prints restic's counter lines for snapshots and packs", () => {
    const repo = newRepo();
    expect(ours(repo, ['backup', newSource({ f: 'x', g: 'y' })]).code).toBe(0);
    const clean = (s: string) => s.replace(/^using temporary cache in .*\n/m, '');
    for (const args of [['check'], ['check', '--read-data'], ['check', '--read-data-subset', '1/1']]) {
      expect(ours(repo, args).stdout, args.join(' ')).toBe(clean(resticOk(repo, PASSWORD, args)));
    }
  });
});

describe('8: dump --archive zip', () => {
  it("writes the bytes restic writes (no data descriptor after directories, as Go's archive/zip)", () => {
    const src = newSource({ 'a/b': 'bb', 'a/ü/c': 'c', d: '' });
    fs.symlinkSync('d', path.join(src, 'l'));
    const repo = newRepo();
    resticOk(repo, PASSWORD, ['backup', src]);
    const dump = (bin: string[]) => {
      const r = spawnSync(bin[0]!, [...bin.slice(1), '-r', repo, '--no-cache', 'dump', '--archive', 'zip', 'latest', src], {
        env: { ...process.env, ...env },
        maxBuffer: 1 << 26,
      });
      expect(r.status, String(r.stderr)).toBe(0);
      return r.stdout;
    };
    const theirs = dump(['restic']);
    const mine = dump([process.execPath, CLI]);
    expect(mine.length).toBe(theirs.length);
    expect(Buffer.compare(mine, theirs)).toBe(0);
  });
});

describe('9: restic 0.17+ snapshot summary and fields of newer restic versions', () => {
  it('backup writes the summary; snapshots --json shows it; restic 0.14 accepts the repository', () => {
    const repo = newRepo();
    const src = newSource({ a: 'aaa', 'd/b': 'bb' });
    const b = ours(repo, ['--json', 'backup', src]);
    expect(b.code, b.stderr).toBe(0);
    const sum = jsonLines(b.stdout).find((m) => m.message_type === 'summary')!;
    const [sn] = JSON.parse(ours(repo, ['snapshots', '--json']).stdout) as Array<{ summary: Record<string, unknown> }>;
    expect(sn!.summary).toEqual({
      backup_start: sum.backup_start,
      backup_end: sum.backup_end,
      files_new: 2,
      files_changed: 0,
      files_unmodified: 0,
      dirs_new: sum.dirs_new,
      dirs_changed: 0,
      dirs_unmodified: 0,
      data_blobs: sum.data_blobs,
      tree_blobs: sum.tree_blobs,
      data_added: sum.data_added,
      data_added_packed: sum.data_added_packed,
      total_files_processed: 2,
      total_bytes_processed: 5,
    });
    expect(Date.parse(String(sn!.summary.backup_end))).toBeGreaterThanOrEqual(Date.parse(String(sn!.summary.backup_start)));
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    expect(JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json'])).length).toBe(1);
    const stdin = ours(repo, ['backup', '--stdin'], 'x');
    expect(stdin.code).toBe(0);
    const all = JSON.parse(ours(repo, ['snapshots', '--json']).stdout) as Array<{ summary?: { files_new: number } }>;
    expect(all.map((s) => s.summary?.files_new)).toEqual([2, 1]);
  });

  it('tag and copy keep summary, program_version and unknown fields byte for byte', async () => {
    const repo = newRepo();
    const dst = newRepo();
    const src = newSource({ f: 'content' });
    expect(ours(repo, ['backup', src]).code).toBe(0);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    const snapshot = (await r.listSnapshots())[0]!.snapshot;
    const summary =
      '{"backup_start":"2026-01-01T10:00:00.123456789+01:00","backup_end":"2026-01-01T10:00:01+01:00","files_new":1,"files_changed":0,' +
      '"files_unmodified":0,"dirs_new":3,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":1,"tree_blobs":3,"data_added":900,' +
      '"data_added_packed":600,"total_files_processed":1,"total_bytes_processed":7,"next_field":[1,2]}';
    const newer =
      `{"time":"2026-01-01T10:00:00.123456789+01:00","tree":"${snapshot.tree}","paths":${JSON.stringify(snapshot.paths)},` +
      `"hostname":"h","username":"u","uid":1000,"gid":1000,"unknown_obj":{"a":"b","n":[null,true]},"tags":["t"],` +
      `"program_version":"restic 0.18.0","summary":${summary}}`;
    const id = await r.saveUnpacked('snapshot', Buffer.from(newer));
    await r.close();

    const tagged = ours(repo, ['tag', '--add', 'x', id]);
    expect(tagged.code, tagged.stderr).toBe(0);
    /** The snapshot file that came from the newer one (it carries restic 0.18's program_version). */
    const raw = async (location: string) => {
      const rr = await Repository.open(new LocalBackend(location), PASSWORD);
      const texts: string[] = [];
      for (const s of await rr.listSnapshots()) texts.push(Buffer.from(await rr.loadUnpacked('snapshot', s.id)).toString('utf8'));
      await rr.close();
      const found = texts.filter((t) => t.includes('restic 0.18.0'));
      expect(found.length).toBe(1);
      return found[0]!;
    };
    expect(await raw(repo)).toBe(newer.replace('"tags":["t"]', `"tags":["t","x"],"original":"${id}"`));

    const copied = cli(['-r', dst, 'copy', '--from-repo', repo], { ...env, RESTIC_FROM_PASSWORD: PASSWORD });
    expect(copied.code, copied.stderr).toBe(0);
    // restic's copy: parent dropped (there is none), original kept; everything else as it was
    expect(await raw(dst)).toBe(newer.replace('"tags":["t"]', `"tags":["t","x"],"original":"${id}"`));
    // restic 0.14 reads both repositories
    for (const loc of [repo, dst]) expect(resticOk(loc, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    expect(JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json', '--tag', 'x'])).length).toBe(1);
  });
});

describe('8: init --quiet', () => {
  it('prints nothing, as restic (its lines are Verbosef)', () => {
    const ours = cli(['-q', '-r', path.join(tmp.dir, 'repos', `q${n++}`), 'init'], env);
    const theirs = restic(path.join(tmp.dir, 'repos', `q${n++}`), PASSWORD, ['-q', 'init']);
    expect([ours.code, theirs.code]).toEqual([0, 0]);
    expect(theirs.stdout).toBe('');
    expect(ours.stdout).toBe(theirs.stdout);
  });
});
