/**
 * Issue 15 item 7: backup progress with totals. A scanner runs ahead of the archiver (as
 * restic's does), so library progress events and `backup --json` status lines carry restic's
 * totals, percentage and time left; the totals agree with restic 0.14's scanner on the same
 * tree, excludes included.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup } from '../../src/index.js';
import type { BackupProgress } from '../../src/archiver/archiver.js';
import { progressInterval } from '../../src/ui/progress.js';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'progress';
const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_PROGRESS_FPS: '60' };
let tmp: ReturnType<typeof tempDir>;
let src: string;
const FILES = 40;
const SIZE = 512 * 1024;

beforeAll(() => {
  tmp = tempDir('progress-');
  src = path.join(tmp.dir, 'src');
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(src, `d${i % 4}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}`), pseudoRandom(`p${i}`, SIZE));
  }
  fs.writeFileSync(path.join(src, 'skip.log'), 'excluded by pattern');
});
afterAll(() => tmp.cleanup());

const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Status lines of a `backup --json` run (restic's or ours) on a fresh repository. */
function statusLines(bin: 'ours' | 'restic', extra: string[] = []): Array<Record<string, unknown>> {
  const repo = path.join(tmp.dir, `repo-${bin}-${Math.random().toString(36).slice(2)}`);
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  const args = ['-r', repo, '--json', ...extra, 'backup', '--exclude', '*.log', src];
  let out: { code: number; stdout: string; stderr: string };
  if (bin === 'ours') out = cli(args, env);
  else {
    const r = spawnSync('restic', ['--no-cache', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
    out = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  expect(out.code, out.stderr).toBe(0);
  return jsonLines(out.stdout).filter((m) => m.message_type === 'status');
}

describe('backup --json status lines', () => {
  it("carry restic's fields, with totals equal to restic's scanner's (excludes applied)", () => {
    const ours = statusLines('ours').filter((m) => m.action === undefined);
    const theirs = statusLines('restic').filter((m) => m.action === undefined);
    expect(ours.length).toBeGreaterThan(1);
    const RESTIC_KEYS = [
      'message_type',
      'seconds_elapsed',
      'seconds_remaining',
      'percent_done',
      'total_files',
      'files_done',
      'total_bytes',
      'bytes_done',
      'error_count',
      'current_files',
    ];
    for (const m of ours) {
      expect(
        Object.keys(m).every((k) => RESTIC_KEYS.includes(k)),
        JSON.stringify(m),
      ).toBe(true);
      expect(m.percent_done).toBeGreaterThanOrEqual(0);
      expect(m.percent_done).toBeLessThanOrEqual(1);
    }
    const finalTotals = (l: Array<Record<string, unknown>>) => ({
      files: Math.max(...l.map((m) => Number(m.total_files ?? 0))),
      bytes: Math.max(...l.map((m) => Number(m.total_bytes ?? 0))),
    });
    expect(finalTotals(ours)).toEqual({ files: FILES, bytes: FILES * SIZE });
    expect(theirs.length).toBeGreaterThan(1);
    expect(finalTotals(ours)).toEqual(finalTotals(theirs));
    // some line shows the whole total and a share of it done, as restic's do
    expect(ours.some((m) => m.total_files === FILES && Number(m.percent_done) > 0 && Array.isArray(m.current_files))).toBe(true);
  });

  it('-v adds the scan_finished status line with the same fields and counts as restic', () => {
    const o = statusLines('ours', ['-v']).filter((m) => m.action === 'scan_finished');
    const t = statusLines('restic', ['-v']).filter((m) => m.action === 'scan_finished');
    expect(o.length).toBe(1);
    expect(t.length).toBe(1);
    expect(Object.keys(o[0]!)).toEqual(Object.keys(t[0]!));
    expect({ ...o[0], duration: 0 }).toEqual({ ...t[0], duration: 0 });
  });

  it("runs at restic ≥ 0.17's rate: 10 a second by default, RESTIC_PROGRESS_FPS up to 60", () => {
    expect(progressInterval({})).toBe(100);
    expect(progressInterval({ RESTIC_PROGRESS_FPS: '2' })).toBe(500);
    expect(progressInterval({ RESTIC_PROGRESS_FPS: '1000' })).toBeCloseTo(1000 / 60);
  });
});

describe('library progress events', () => {
  it('report totals, a fraction done, files done and the time left once the scan is finished', async () => {
    const repo = await Repository.init(new LocalBackend(path.join(tmp.dir, 'lib-repo')), PASSWORD, { kdf: { N: 1024, r: 8, p: 1 } });
    const events: BackupProgress[] = [];
    let scanned: { files: number; bytes: number } | undefined;
    const r = await backup(repo, [src], {
      hostname: 'h',
      excludes: { exclude: ['*.log'] },
      progressInterval: 1,
      onProgress: (p) => events.push(p),
      onScanFinished: (s) => (scanned = { files: s.files, bytes: s.bytes }),
    });
    await repo.close();
    expect(r.stats.totalFilesProcessed).toBe(FILES);
    expect(scanned).toEqual({ files: FILES, bytes: FILES * SIZE });
    expect(events.length).toBeGreaterThan(1);
    const finished = events.filter((e) => e.scanFinished);
    expect(finished.length).toBeGreaterThan(0);
    for (const e of finished) {
      expect(e.totalFiles).toBe(FILES);
      expect(e.totalBytes).toBe(FILES * SIZE);
      expect(e.percentDone).toBeCloseTo(e.bytesDone / e.totalBytes);
      expect(e.secondsRemaining).toBeGreaterThanOrEqual(0);
    }
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.filesDone).toBeGreaterThanOrEqual(events[i - 1]!.filesDone);
      expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
    }
    expect(events.every((e) => e.errorCount === 0 && e.totalDirs <= 5)).toBe(true);
  });
});

describe('prune and copy counters', () => {
  /** restic's "[m:ss] 100.00%  n / n what" lines, elapsed time left out. */
  const counters = (out: string) => [...out.matchAll(/^\[\d+:\d\d\] +(.*)$/gm)].map((m) => m[1]!);

  it("prune prints restic's counters with the same totals as restic on the same repository", () => {
    const base = path.join(tmp.dir, 'prune-base');
    const data = path.join(tmp.dir, 'prune-src');
    expect(cli(['-r', base, 'init'], env).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      fs.mkdirSync(data, { recursive: true });
      fs.writeFileSync(path.join(data, `f${i}`), pseudoRandom(`prune${i}`, 300 * 1024));
      if (i > 0) fs.rmSync(path.join(data, `f${i - 1}`));
      expect(cli(['-r', base, 'backup', data], env).code).toBe(0);
    }
    resticOk(base, PASSWORD, ['forget', '--keep-last', '1']);
    const mine = path.join(tmp.dir, 'prune-mine');
    const theirs = path.join(tmp.dir, 'prune-theirs');
    fs.cpSync(base, mine, { recursive: true });
    fs.cpSync(base, theirs, { recursive: true });
    const o = cli(['-r', mine, 'prune'], env);
    expect(o.code, o.stderr).toBe(0);
    const t = resticOk(theirs, PASSWORD, ['prune']);
    expect(counters(o.stdout).length).toBeGreaterThanOrEqual(5);
    expect(counters(o.stdout)).toEqual(counters(t));
    expect(resticOk(mine, PASSWORD, ['check'])).toContain('no errors were found');
  });

  it('copy prints a "packs copied" counter per copied snapshot, complete at the end', () => {
    const from = path.join(tmp.dir, 'repo-copy-src');
    const to = path.join(tmp.dir, 'repo-copy-dst');
    for (const r of [from, to]) expect(cli(['-r', r, 'init'], env).code).toBe(0);
    expect(cli(['-r', from, 'backup', src], env).code).toBe(0);
    const r = cli(['-r', to, 'copy', '--from-repo', from], { ...env, RESTIC_FROM_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    const c = counters(r.stdout);
    expect(c.length).toBe(1);
    expect(c[0]).toMatch(/^100\.00%  (\d+) \/ \1 packs copied$/);
  });
});
