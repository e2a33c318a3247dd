/**
 * forget policies against restic 0.14: a synthetic history of > 200 snapshots (chosen
 * times in several zones, hosts, paths and tags, written with restic-ts) is given to both
 * tools with the same flags; the whole `forget --dry-run --json` documents (groups, keep,
 * remove, reasons, counters) must be equal. The policy module alone:
 * test/unit/forget-policy.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local.js';
import { Repository } from '../../src/repository/repository.js';
import type { Snapshot } from '../../src/format/snapshot.js';
import { formatGoTime } from '../../src/go/time.js';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { rng } from '../helpers/rng.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'forget-pw';
const KDF = { N: 1024, r: 8, p: 1 };
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repoDir: string;
let count = 0;

const HOSTS = ['h1', 'h1', 'h1', 'h2', 'h2', 'h3'];
const PATHS = [['/data'], ['/data'], ['/home'], ['/srv/b', '/srv/a']];
const TAGS: Array<string[] | undefined> = [
  undefined,
  undefined,
  ['daily'],
  ['weekly'],
  ['important'],
  ['a', 'b'],
  ['b', 'a', 'c'],
  ['weekly', 'important'],
];
const OFFSETS = [0, 0, 120, -300, 330, 60];

/** Go time text at a fixed offset (minutes). */
function goTime(ms: number, nsec: number, offset: number): string {
  return formatGoTime(BigInt(Math.floor(ms / 1000)), nsec, offset);
}

function history(): Snapshot[] {
  const rand = rng(20260331);
  const pick = <T>(l: readonly T[]) => l[Math.floor(rand() * l.length)]!;
  const out: Snapshot[] = [];
  let t = Date.UTC(2023, 0, 1, 0, 0, 0);
  for (let i = 0; i < 220; i++) {
    // bursts of hourly snapshots mixed with gaps of days
    t += rand() < 0.5 ? (10 + rand() * 350) * 60_000 : (1 + rand() * 9) * 86_400_000;
    t = Math.floor(t / 1000) * 1000;
    const s: Snapshot = {
      time: goTime(t, Math.floor(rand() * 1e9), pick(OFFSETS)),
      tree: '',
      paths: [...pick(PATHS)],
      hostname: pick(HOSTS),
    };
    const tags = pick(TAGS);
    if (tags) s.tags = [...tags];
    if (rand() < 0.3) {
      s.username = 'tester';
      s.uid = 1000;
      s.gid = 100;
    }
    out.push(s);
  }
  // group (h1, /data): the newest real snapshot on a month's end, others exactly on and
  // just inside keep-within boundaries, and two in the future (never the reference)
  const h1 = (time: string, tags?: string[]): Snapshot => ({ time, tree: '', paths: ['/data'], hostname: 'h1', ...(tags ? { tags } : {}) });
  out.push(h1('2026-03-31T12:00:00.5+02:00', ['weekly']));
  out.push(h1('2026-03-30T12:00:00.5+02:00')); // latest − 1d exactly: not within 1d
  out.push(h1('2026-03-30T10:00:00.500000001Z')); // 1 ns inside 1d
  out.push(h1('2026-03-03T12:00:00.5+02:00')); // latest.AddDate(0,-1,0) normalizes Feb 31 to Mar 3: on the boundary
  out.push(h1('2026-03-03T10:00:00.6Z')); // just inside 1m
  out.push(h1('2026-03-31T00:30:00+02:00')); // same day as the latest in its zone, previous day in UTC
  out.push(h1('2031-01-01T00:00:00Z', ['important']));
  out.push(h1('2031-06-01T00:00:00+02:00'));
  return out;
}

beforeAll(async () => {
  tmp = tempDir('forget-');
  repoDir = path.join(tmp.dir, 'repo');
  const repo = await Repository.init(new LocalBackend(repoDir), PASSWORD, { kdf: KDF, workers: 0 });
  const tree = await repo.saveTree([]);
  await repo.flush();
  for (const s of history()) {
    await repo.saveSnapshot({ ...s, tree });
    count++;
  }
  await repo.close();
});
afterAll(() => tmp.cleanup());

type Group = {
  host: string;
  paths: string[] | null;
  tags: string[] | null;
  keep: Array<{ id: string }> | null;
  remove: Array<{ id: string }> | null;
};
const sortGroups = (v: Group[]) =>
  [...v].sort((a, b) => JSON.stringify([a.host, a.paths, a.tags]).localeCompare(JSON.stringify([b.host, b.paths, b.tags])));
const ids = (l: Array<{ id: string }> | null) => (l ?? []).map((s) => s.id).sort();

const COMBOS: string[][] = [
  ['--keep-last', '5'],
  ['--keep-hourly', '10'],
  ['--keep-daily', '7'],
  ['--keep-weekly', '8'],
  ['--keep-monthly', '12'],
  ['--keep-yearly', '3'],
  ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '12', '--keep-yearly', '5'],
  ['--keep-within', '1y2m3d4h'],
  ['--keep-within', '1d'],
  ['--keep-within', '1m'],
  ['--keep-within', '24h'],
  ['--keep-within', '30d'],
  ['--keep-within-hourly', '3d'],
  ['--keep-within-daily', '1m'],
  ['--keep-within-weekly', '6m'],
  ['--keep-within-monthly', '1y'],
  ['--keep-within-yearly', '5y'],
  ['--keep-tag', 'important'],
  ['--keep-tag', 'a,b', '--keep-tag', 'weekly'],
  ['--keep-tag', ''],
  ['--keep-last', '3', '--keep-tag', 'important', '--group-by', 'host'],
  ['--group-by', '', '--keep-daily', '10'],
  ['--group-by', 'host,paths,tags', '--keep-last', '2'],
  ['--group-by', 'tags', '--keep-monthly', '3'],
  ['--host', 'h1', '--keep-last', '4'],
  ['--tag', 'daily', '--keep-weekly', '3'],
  ['--tag', 'b,a', '--tag', 'important', '--keep-hourly', '2', '--group-by', 'host'],
  ['--path', '/data', '--keep-hourly', '5', '--keep-daily', '3'],
  ['--path', '/srv/a', '--path', '/srv/b', '--keep-weekly', '2', '--keep-within', '2m'],
  ['--host', 'h2', '--host', 'h3', '--keep-last', '1', '--keep-within-daily', '7d', '--keep-tag', 'important'],
  ['--keep-last', '-1'],
  ['-l', '2', '-d', '3', '-w', '2', '-m', '2', '-y', '2', '-H', '3', '-g', 'paths'],
];

describe('forget policy against restic 0.14', () => {
  it('writes a history of more than 200 snapshots', () => {
    expect(count).toBeGreaterThanOrEqual(200);
    expect(fs.readdirSync(path.join(repoDir, 'snapshots')).length).toBe(count);
  });

  it.each(COMBOS.map((c) => [c.join(' '), c] as const))('%s: same JSON as restic', (_name, flags) => {
    const ours = cli(['-r', repoDir, '--no-lock', 'forget', '--dry-run', '--json', ...flags], env);
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = resticOk(repoDir, PASSWORD, ['--no-lock', 'forget', '--dry-run', '--json', ...flags]);
    const a = sortGroups(JSON.parse(ours.stdout) as Group[]);
    const b = sortGroups(JSON.parse(theirs) as Group[]);
    // the sets first (clear failure messages), then the whole documents incl. reasons and counters
    expect(a.map((g) => [g.host, g.paths, g.tags, ids(g.keep), ids(g.remove)])).toEqual(
      b.map((g) => [g.host, g.paths, g.tags, ids(g.keep), ids(g.remove)]),
    );
    expect(a).toEqual(b);
    expect(a.reduce((n, g) => n + (g.keep?.length ?? 0) + (g.remove?.length ?? 0), 0)).toBeGreaterThan(0);
  });

  // Go attaches time.Local to times whose offset is the local zone's: calendar arithmetic
  // then follows its DST rules (2026-03-31 +02:00 minus one month is 2026-03-03 +01:00 in Berlin)
  it.each([
    [['--keep-within', '1m']],
    [['--keep-within-daily', '1m', '--keep-within', '1y2m3d4h']],
    [['--keep-daily', '5', '--keep-weekly', '3', '--host', 'h1', '--path', '/data']],
  ])('in the zone Europe/Berlin %j: same JSON and text as restic', (flags) => {
    const zone = { TZ: 'Europe/Berlin' };
    for (const json of [['--json'], []]) {
      const args = ['--no-lock', 'forget', '--dry-run', ...json, ...flags];
      const ours = cli(['-r', repoDir, ...args], { ...env, ...zone });
      const theirs = resticOk(repoDir, PASSWORD, args, zone);
      if (json.length) expect(sortGroups(JSON.parse(ours.stdout) as Group[])).toEqual(sortGroups(JSON.parse(theirs) as Group[]));
      else if (flags.includes('--path')) expect(ours.stdout).toBe(theirs); // text: one group, so restic's map order does not matter
    }
  });

  // restic 0.14 printed nothing and exited 0; restic >= 0.17 refuses an empty policy (exit 1),
  // which we follow (README compatibility table). Both print nothing on stdout and remove nothing.
  it('an empty policy prints nothing under --json, removes nothing and is refused as restic >= 0.17 does', () => {
    const before = cli(['-r', repoDir, '--no-lock', 'snapshots', '--json'], env).stdout;
    const ours = cli(['-r', repoDir, 'forget', '--dry-run', '--json'], env);
    const theirs = restic(repoDir, PASSWORD, ['forget', '--dry-run', '--json']);
    expect(ours.stdout).toBe(theirs.stdout);
    expect(ours.stdout).toBe('');
    expect(ours.code).toBe(1);
    expect(ours.stderr).toContain('no policy was specified, no snapshots will be removed');
    expect(cli(['-r', repoDir, '--no-lock', 'snapshots', '--json'], env).stdout).toBe(before);
  });

  it('prints the same text as restic (one group, with reasons and the removal list)', () => {
    const flags = [
      'forget',
      '--dry-run',
      '--host',
      'h3',
      '--path',
      '/home',
      '--keep-last',
      '2',
      '--keep-monthly',
      '3',
      '--keep-tag',
      'weekly',
    ];
    const ours = cli(['-r', repoDir, '--no-lock', ...flags], env);
    const theirs = restic(repoDir, PASSWORD, ['--no-lock', ...flags]);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout).toBe(theirs.stdout);
    expect(ours.stdout).toContain('Would have removed the following snapshots:');
  });

  it('prints the same text as restic for several paths (blank lines between rows) and --compact', () => {
    for (const extra of [[], ['--compact']]) {
      const flags = ['forget', '--dry-run', '--path', '/srv/a', '--host', 'h2', '--keep-weekly', '2', '--keep-tag', 'a', ...extra];
      const ours = cli(['-r', repoDir, '--no-lock', ...flags], env);
      const theirs = restic(repoDir, PASSWORD, ['--no-lock', ...flags]);
      expect(ours.stdout).toBe(theirs.stdout);
    }
  });

  it('rejects bad flags with one line and exit code 1, as restic does', () => {
    for (const flags of [
      ['--keep-within', '1x'],
      ['--keep-within', 'd'],
      ['--group-by', 'user', '--keep-last', '1'],
      ['--keep-last', 'two'],
    ]) {
      const ours = cli(['-r', repoDir, 'forget', '--dry-run', ...flags], env);
      const theirs = restic(repoDir, PASSWORD, ['forget', '--dry-run', ...flags]);
      expect(theirs.code).not.toBe(0);
      expect(ours.code).toBe(1);
      expect(ours.stderr.trim().split('\n')).toHaveLength(1);
    }
    const noLock = cli(['-r', repoDir, '--no-lock', 'forget', '--keep-last', '1'], env);
    expect(noLock.code).toBe(1);
    expect(noLock.stderr).toContain('--no-lock is only applicable in combination with --dry-run');
  });
});
