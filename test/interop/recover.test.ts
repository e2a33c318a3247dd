/**
 * `recover`: after a snapshot file is lost, its root tree is found and saved in a new
 * snapshot ("/recover", tag "recovered"); restic 0.14 checks the repository with
 * --read-data and restores the recovered files. A second run finds nothing to recover.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'recover-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;
let victim: Sn;

const ok = (args: string[]) => {
  const r = cli(['-r', repo, ...args], env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
type Sn = { id: string; tree: string; paths: string[]; tags?: string[] };

beforeAll(() => {
  tmp = tempDir('recover-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'kept'), 'kept\n'.repeat(100));
  ok(['init']);
  ok(['backup', src]);
  const first = (JSON.parse(ok(['snapshots', '--json'])) as Sn[])[0]!;
  fs.writeFileSync(path.join(src, 'lost'), 'only in the lost snapshot\n'.repeat(100));
  ok(['backup', src]);
  victim = (JSON.parse(ok(['snapshots', '--json'])) as Sn[]).find((s) => s.id !== first.id)!;
});
afterAll(() => tmp.cleanup());

describe('recover', () => {
  it('saves the trees of a lost snapshot, and restic restores them', () => {
    fs.rmSync(path.join(repo, 'snapshots', victim.id));

    const out = ok(['recover']);
    expect(out).toContain('\nfound 1 unreferenced roots\n');
    expect(out).toMatch(/saved new snapshot [0-9a-f]{8}\n$/);
    const recovered = (JSON.parse(ok(['snapshots', '--json'])) as Sn[]).find((s) => s.tags?.includes('recovered'))!;
    expect(recovered.paths).toEqual(['/recover']);
    expect(ok(['recover'])).toContain('no snapshot to write.');

    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'restored');
    resticOk(repo, PASSWORD, ['restore', recovered.id, '--target', target]);
    const root = path.join(target, victim.tree.slice(0, 8), src);
    expect(fs.readdirSync(root).sort()).toEqual(['kept', 'lost']);
    for (const n of ['kept', 'lost']) expect(fs.readFileSync(path.join(root, n), 'utf8')).toBe(fs.readFileSync(path.join(src, n), 'utf8'));
  });
});
