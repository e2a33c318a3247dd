/**
 * forget that really deletes: by policy (restic's dry-run prediction is what we remove),
 * by explicit IDs (same output and result as restic), under an exclusive lock; restic
 * checks the repository clean afterwards.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local.js';
import { Repository } from '../../src/repository/repository.js';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'forget-cli';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let base: string;
const all: string[] = [];

beforeAll(async () => {
  tmp = tempDir('forget-cli-');
  base = path.join(tmp.dir, 'base');
  const repo = await Repository.init(new LocalBackend(base), PASSWORD, { kdf: { N: 1024, r: 8, p: 1 }, workers: 0 });
  const tree = await repo.saveTree([]);
  await repo.flush();
  for (let i = 0; i < 24; i++) {
    const day = String(1 + i).padStart(2, '0');
    all.push(
      await repo.saveSnapshot({
        time: `2025-05-${day}T${String((i * 5) % 24).padStart(2, '0')}:15:00Z`,
        tree,
        paths: [i % 3 ? '/data' : '/home'],
        hostname: i % 4 ? 'h1' : 'h2',
        ...(i % 7 === 0 ? { tags: ['keep'] } : {}),
      }),
    );
  }
  await repo.close();
});
afterAll(() => tmp.cleanup());

const copyOf = (name: string) => {
  const dir = path.join(tmp.dir, name);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
};
const snapshotIds = (repo: string) =>
  (JSON.parse(resticOk(repo, PASSWORD, ['--no-lock', 'snapshots', '--json'])) as Array<{ id: string }>).map((s) => s.id).sort();

describe('forget (deleting)', () => {
  it('removes exactly what restic predicts for the policy, leaves no lock, and restic checks clean', () => {
    const repo = copyOf('policy');
    const flags = ['--keep-last', '2', '--keep-weekly', '2', '--keep-tag', 'keep'];
    const predicted = JSON.parse(resticOk(repo, PASSWORD, ['--no-lock', 'forget', '--dry-run', '--json', ...flags])) as Array<{
      remove: Array<{ id: string }> | null;
    }>;
    const remove = new Set(predicted.flatMap((g) => (g.remove ?? []).map((s) => s.id)));
    expect(remove.size).toBeGreaterThan(5);
    const r = cli(['-r', repo, 'forget', ...flags], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Applying Policy: keep 2 latest, 2 weekly snapshots and all snapshots with tags \[\[keep\]\]\n/);
    expect(snapshotIds(repo)).toEqual(all.filter((id) => !remove.has(id)).sort());
    expect(fs.readdirSync(path.join(repo, 'locks'))).toEqual([]);
    resticOk(repo, PASSWORD, ['check']);
    // nothing left to remove for the same policy
    const again = JSON.parse(cli(['-r', repo, 'forget', '--json', ...flags], env).stdout) as Array<{ remove: unknown }>;
    expect(again.every((g) => g.remove === null)).toBe(true);
  });

  it('prints what restic prints when it deletes (one group)', () => {
    const ours = copyOf('text-ours');
    const theirs = copyOf('text-theirs');
    const args = ['forget', '--host', 'h1', '--path', '/data', '--keep-last', '3', '--keep-daily', '1'];
    const a = cli(['-r', ours, ...args], env);
    const b = restic(theirs, PASSWORD, args);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toContain('files deleted');
    expect(snapshotIds(ours)).toEqual(snapshotIds(theirs));
  });

  it('skips an undecryptable snapshot file with a warning and forgets the rest, as restic does', () => {
    const ours = copyOf('damaged-ours');
    const theirs = copyOf('damaged-theirs');
    const junk = crypto.randomBytes(300);
    const junkId = crypto.createHash('sha256').update(junk).digest('hex');
    for (const dir of [ours, theirs]) fs.writeFileSync(path.join(dir, 'snapshots', junkId), junk);
    const args = ['forget', '--keep-last', '3'];
    const a = cli(['-r', ours, ...args], env);
    const b = restic(theirs, PASSWORD, args);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stderr).toContain(`could not load snapshot ${junkId.slice(0, 8)}`);
    expect(b.stderr).toContain(`could not load snapshot ${junkId.slice(0, 8)}`);
    const remaining = (dir: string) => fs.readdirSync(path.join(dir, 'snapshots')).sort();
    expect(remaining(ours)).toEqual(remaining(theirs));
    expect(remaining(ours)).toContain(junkId);
  });

  it('removes snapshots named by ID (prefix or full) like restic, warning about unknown ones', () => {
    const ours = copyOf('ids-ours');
    const theirs = copyOf('ids-theirs');
    const args = ['forget', all[3]!.slice(0, 8), all[5]!, 'deadbeef', '--host', 'h2'];
    const dry = cli(['-r', ours, '--no-lock', ...args, '--dry-run'], env);
    const dryTheirs = restic(theirs, PASSWORD, ['--no-lock', ...args, '--dry-run']);
    expect(dry.stdout).toBe(dryTheirs.stdout);
    expect(dry.stdout).toBe(
      `Would have removed the following snapshots:\n{${[all[3]!, all[5]!]
        .sort()
        .map((id) => id.slice(0, 8))
        .join(' ')}}\n\n`,
    );
    const a = cli(['-r', ours, ...args], env);
    const b = restic(theirs, PASSWORD, args);
    expect([a.code, a.stdout]).toEqual([b.code, b.stdout]);
    expect(a.stderr).toContain('Ignoring "deadbeef"');
    expect(a.stderr).toContain('Ignoring filters as there are explicit snapshot ids given');
    expect(snapshotIds(ours)).toEqual(snapshotIds(theirs));
    expect(snapshotIds(ours)).toEqual(all.filter((_, i) => i !== 3 && i !== 5).sort());
  });

  it('needs an exclusive lock: exit code 11 and nothing removed while another process holds a lock', async () => {
    const dir = copyOf('locked');
    const repo = await Repository.open(new LocalBackend(dir), PASSWORD);
    const release = await repo.lock(false);
    try {
      const r = cli(['-r', dir, 'forget', '--keep-last', '1'], env);
      expect(r.code).toBe(11);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(snapshotIds(dir)).toEqual([...all].sort());
    } finally {
      await release();
      await repo.close();
    }
  });

  it('--prune with an invalid prune flag refuses before deleting anything', () => {
    const dir = copyOf('prune');
    const r = cli(['-r', dir, 'forget', '--keep-last', '1', '--prune', '--max-unused', 'lots'], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshotIds(dir)).toEqual([...all].sort());
  });
});
