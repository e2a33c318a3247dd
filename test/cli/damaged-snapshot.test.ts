/**
 * Issue 18 item 4: one damaged snapshot file does not hide the others. As restic's
 * FindFilteredSnapshots, the commands that load all snapshots warn "could not load snapshot
 * <id>: <cause>" once per bad file, go on with the rest and exit 0; prune refuses (as restic:
 * it cannot know what the damaged snapshot references) and deletes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup } from '../../dist/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const ENV = { RESTIC_PASSWORD: 'pw', RESTIC_FROM_PASSWORD: 'pw' };
let tmp: { dir: string; cleanup: () => void };
let repo: string;
let bad: string;
const good: string[] = [];

beforeAll(async () => {
  tmp = tempDir('h18-damaged-');
  const src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  repo = path.join(tmp.dir, 'repo');
  const r = await Repository.init(new LocalBackend(repo), 'pw', { version: 2, kdf: { N: 1024, r: 8, p: 1 } });
  for (let i = 0; i < 3; i++) {
    fs.writeFileSync(path.join(src, `file${i}`), `content ${i}\n`);
    const { snapshotId } = await backup(r, [src], { hostname: 'h', time: `2024-01-0${i + 1}T00:00:00Z` });
    good.push(snapshotId);
  }
  bad = good.splice(1, 1)[0]!;
  const file = path.join(repo, 'snapshots', bad);
  fs.chmodSync(file, 0o600);
  const bytes = fs.readFileSync(file);
  bytes[40]! ^= 0xff;
  fs.writeFileSync(file, bytes);
});
afterAll(() => tmp.cleanup());

const warning = () => new RegExp(`^could not load snapshot ${bad.slice(0, 8)}: .+\\n$`);

describe('a damaged snapshot file', () => {
  it('snapshots: one warning, the others listed, exit 0', () => {
    const r = cli(['-r', repo, 'snapshots'], ENV);
    expect(r.stderr).toMatch(warning());
    expect(r.code).toBe(0);
    for (const id of good) expect(r.stdout).toContain(id.slice(0, 8));
    expect(r.stdout).toContain('2 snapshots');

    const j = cli(['-r', repo, 'snapshots', '--json'], ENV);
    expect(j.stderr).toMatch(warning());
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as Array<{ id: string }>).map((s) => s.id)).toEqual(good);
  });

  it('find and stats: one warning, the others searched, exit 0', () => {
    const f = cli(['-r', repo, 'find', 'file0'], ENV);
    expect(f.stderr).toMatch(warning());
    expect(f.code).toBe(0);
    for (const id of good) expect(f.stdout).toContain(id.slice(0, 8));

    const s = cli(['-r', repo, 'stats', '--json'], ENV);
    expect(s.stderr).toMatch(warning());
    expect(s.code).toBe(0);
    expect((JSON.parse(s.stdout) as { snapshots_count: number }).snapshots_count).toBe(2);
  });

  it('forget and copy: one warning, the others handled, exit 0', () => {
    const f = cli(['-r', repo, 'forget', '--keep-last', '1', '--dry-run', '--json'], ENV);
    expect(f.stderr).toMatch(warning());
    expect(f.code).toBe(0);
    const groups = JSON.parse(f.stdout) as Array<{ remove: Array<{ id: string }> }>;
    expect(groups[0]!.remove.map((s) => s.id)).toEqual([good[0]]);

    const dst = path.join(tmp.dir, 'copy');
    expect(cli(['-r', dst, 'init'], ENV).code).toBe(0);
    const c = cli(['-r', dst, 'copy', '--from-repo', repo], ENV);
    expect(c.stderr).toMatch(warning());
    expect(c.code).toBe(0);
    expect(fs.readdirSync(path.join(dst, 'snapshots'))).toHaveLength(2);
  });

  it('prune refuses and deletes nothing, as restic does', () => {
    const packs = () => fs.readdirSync(path.join(repo, 'data'), { recursive: true }).length;
    const before = packs();
    const r = cli(['-r', repo, 'prune'], ENV);
    expect(r.stderr).toMatch(new RegExp(`failed loading snapshot: .*\\n$`));
    expect(r.code).toBe(1);
    expect(packs()).toBe(before);
  });
});
