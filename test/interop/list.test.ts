/**
 * `list`: the same IDs as restic 0.14 for every file type and for blobs (one line per
 * index entry), plus newer restic's `list packs <snapshot>` (the packs a restore needs:
 * restic restores the snapshot with only those packs left).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'list-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

const ours = (args: string[]) => {
  const r = cli(['-r', repo, ...args], env);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};
const sorted = (s: string) => s.split('\n').filter(Boolean).sort();

beforeAll(() => {
  tmp = tempDir('list-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'one'), 'first file\n'.repeat(1000));
  ours(['init']);
  ours(['backup', src]);
  fs.writeFileSync(path.join(src, 'two'), 'second file\n'.repeat(1000));
  ours(['backup', src]);
});
afterAll(() => tmp.cleanup());

describe('list', () => {
  it('lists what restic 0.14 lists', () => {
    for (const what of ['blobs', 'packs', 'index', 'snapshots', 'keys', 'locks'])
      expect(sorted(ours(['list', what])), what).toEqual(sorted(resticOk(repo, PASSWORD, ['--no-lock', 'list', what])));
    expect(sorted(ours(['list', 'blobs'])).every((l) => /^(data|tree) [0-9a-f]{64}$/.test(l))).toBe(true);
  });

  it('list packs <snapshot>: restic restores the snapshot from those packs alone', () => {
    const first = (JSON.parse(ours(['snapshots', '--json'])) as Array<{ id: string; time: string }>).sort((a, b) =>
      a.time.localeCompare(b.time),
    )[0]!;
    const needed = new Set(sorted(ours(['list', 'packs', first.id])));
    const all = sorted(ours(['list', 'packs']));
    expect(needed.size).toBeGreaterThan(0);
    expect(needed.size).toBeLessThan(all.length);
    const target = path.join(tmp.dir, 'restored');
    // move every other pack away: the snapshot must still restore
    for (const p of all) if (!needed.has(p)) fs.renameSync(path.join(repo, 'data', p.slice(0, 2), p), path.join(tmp.dir, p));
    resticOk(repo, PASSWORD, ['restore', first.id, '--target', target]);
    expect(fs.readdirSync(path.join(target, src))).toEqual(['one']);
    for (const p of all) if (!needed.has(p)) fs.renameSync(path.join(tmp.dir, p), path.join(repo, 'data', p.slice(0, 2), p));
    resticOk(repo, PASSWORD, ['check', '--read-data']);
  });

  it('refuses a wrong type with restic words', () => {
    const r = cli(['-r', repo, 'list'], env);
    expect(r.stderr).toBe(
      "Fatal: too many parameters or type not specified. Must be one of [blobs|packs|index|snapshots|keys|locks] or 'packs snapshotID'\n",
    );
    expect(cli(['-r', repo, 'list', 'things'], env).stderr).toBe('Fatal: invalid type\n');
  });
});
