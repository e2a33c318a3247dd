/**
 * check --read-data / --read-data-subset on a repository restic-ts wrote: clean when sound;
 * a flipped byte in a pack is an error naming the pack (exit 1), as restic 0.14 finds too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { restic } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';
import { type History, PASSWORD, buildHistory, listFiles } from '../helpers/prune-setup.js';
import { parseSubset, selectPacks } from '../../src/index.js';
import { selectByBucket, selectByPercentage, selectBySize } from '../../src/checker/subset.js';

const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let h: History;
let packCount: number;

beforeAll(async () => {
  tmp = tempDir('restic-ts-check-rd-');
  h = await buildHistory(tmp.dir, { states: 2, files: 24 });
  packCount = listFiles(path.join(h.repo, 'data')).length;
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

const tick = () => new Promise((r) => setImmediate(r));

describe('check --read-data', () => {
  it('passes on a sound repository; n/t subsets partition the packs', async () => {
    let r = cli(['-r', h.repo, 'check', '--read-data'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // restic's lines, with its counters' final state as printed on a pipe (issue 16 item 8)
    expect(r.stdout.replace(/^\[\d+:\d\d\]/gm, '[0:00]')).toMatch(
      /^create exclusive lock for repository\nload indexes\ncheck all packs\ncheck snapshots, trees and blobs\n\[0:00\] 100\.00% {2}(\d+) \/ \1 snapshots\n\nread all data\n\[0:00\] 100\.00% {2}(\d+) \/ \2 packs\n\nno errors were found\n$/,
    );
    let sum = 0;
    for (const n of [1, 2, 3]) {
      await tick();
      r = cli(['-r', h.repo, 'check', '--read-data-subset', `${n}/3`], env);
      expect(r.code).toBe(0);
      const m = /read group #(\d) of (\d+) data packs \(out of total (\d+) packs in 3 groups\)/.exec(r.stdout);
      expect(m?.[1]).toBe(String(n));
      expect(Number(m![3])).toBe(packCount);
      sum += Number(m![2]);
    }
    expect(sum).toBe(packCount);
    r = cli(['-r', h.repo, 'check', '--read-data-subset', '50%'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/read 50\.0% of data packs\n/);
  });

  it('rejects bad subsets with restic messages', () => {
    const cases: Array<[string[], string]> = [
      [
        ['--read-data-subset', '0/2'],
        'check flag --read-data-subset=n/t values must be positive integers, and n <= t, e.g. --read-data-subset=1/2',
      ],
      [
        ['--read-data-subset', '3/2'],
        'check flag --read-data-subset=n/t values must be positive integers, and n <= t, e.g. --read-data-subset=1/2',
      ],
      [['--read-data-subset', '1/300'], 'check flag --read-data-subset=n/t t must be at most 256'],
      [['--read-data-subset', '1/2/3'], 'check flag --read-data-subset has invalid value, please see documentation'],
      [['--read-data-subset', '0%'], 'check flag --read-data-subset=x% x must be above 0.0% and at most 100.0%'],
      [['--read-data-subset', 'abc'], 'check flag --read-data-subset has invalid value, please see documentation'],
      [['--read-data', '--read-data-subset', '1/2'], 'check flags --read-data and --read-data-subset cannot be used together'],
    ];
    for (const [args, msg] of cases) {
      const r = cli(['-r', h.repo, 'check', ...args], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Fatal: ${msg}\n`);
    }
  });

  it('a flipped byte in a pack is an error naming the pack, exit 1 (restic agrees)', async () => {
    const repo = path.join(tmp.dir, 'corrupt');
    fs.cpSync(h.repo, repo, { recursive: true });
    const files = listFiles(path.join(repo, 'data')).map((f) => path.join(repo, 'data', f));
    const victim = files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
    const id = path.basename(victim);
    fs.chmodSync(victim, 0o644);
    const bytes = fs.readFileSync(victim);
    bytes[100]! ^= 0x01;
    fs.writeFileSync(victim, bytes);

    // The structure check does not read pack contents: still clean, as restic.
    expect(cli(['-r', repo, 'check'], env).code).toBe(0);

    const r = cli(['-r', repo, 'check', '--read-data'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Pack ID does not match, want ${id}`);
    expect(r.stderr).toMatch(/ciphertext verification failed|does not match/);
    expect(r.stderr).toMatch(/Fatal: repository contains errors\n$/);
    await tick();
    const ref = restic(repo, PASSWORD, ['check', '--read-data']);
    expect(ref.code).toBe(1);
    expect(ref.stdout + ref.stderr).toContain(id);

    // Only the subset that holds the pack fails.
    const t = 4;
    const bucket = (parseInt(id.slice(0, 2), 16) % t) + 1;
    for (let n = 1; n <= t; n++) {
      await tick();
      const s = cli(['-r', repo, 'check', '--read-data-subset', `${n}/${t}`], env);
      expect(s.code, `subset ${n}/${t}`).toBe(n === bucket ? 1 : 0);
    }

    const j = cli(['-r', repo, '--json', 'check', '--read-data'], env);
    expect(j.code).toBe(1);
    const lines = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.some((l) => l.message_type === 'error' && l.kind === 'read-data' && l.pack === id)).toBe(true);
    const summary = lines.at(-1);
    expect(summary).toMatchObject({ message_type: 'summary', num_errors: 1, broken_packs: [id] });
  });
});

describe('subset selection (restic rules)', () => {
  const all = new Map<string, number>();
  for (let i = 0; i < 256; i++) all.set(i.toString(16).padStart(2, '0') + 'ab'.repeat(31), 1000 + i);

  it('n/t uses the first ID byte modulo t', () => {
    expect([...selectByBucket(all, 1, 1).keys()]).toHaveLength(256);
    const b = selectByBucket(all, 3, 16);
    expect(b.size).toBe(16);
    for (const id of b.keys()) expect(parseInt(id.slice(0, 2), 16) % 16).toBe(2);
    expect(selectPacks(all, parseSubset('256/256')).size).toBe(1);
  });

  it('percentages and sizes pick at least one pack, truncating as restic does', () => {
    expect(selectByPercentage(all, 10).size).toBe(25);
    expect(selectByPercentage(all, 0.001).size).toBe(1);
    expect(selectByPercentage(all, 100).size).toBe(256);
    let total = 0;
    for (const v of all.values()) total += v;
    expect(selectBySize(all, Math.ceil(total / 2)).size).toBe(128);
    expect(selectBySize(all, total * 10).size).toBe(256);
    expect(parseSubset('10M')).toEqual({ kind: 'size', bytes: 10 * 1024 * 1024 });
  });
});
