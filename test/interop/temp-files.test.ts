/**
 * Temp-file hygiene: what killed writers leave (`data/XX/pack-tmp-*` from our pack assembler,
 * `locks/<id>-tmp-*` and `snapshots/<id>-tmp-*` from atomic writes, restic's
 * `<id>-tmp-<digits>` and sftp `<id>-restic-temp-<hex>`) is listed by `check` as non-critical,
 * and removed by the next backup or prune once older than the safe age (1 h); younger ones
 * (perhaps a live writer's) stay. Our REST server removes its own upload temp files left by
 * a killed instance when it starts. restic 0.14 checks the repository afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { startRestServerProcess } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'tidy';
const env = { RESTIC_PASSWORD: PASSWORD };
const tmp = tempDir('restic-ts-tempfiles-');
let repo: string;
let src: string;
const hex = (n: number) => randomBytes(n).toString('hex');
const HOURS_AGO = (h: number) => new Date(Date.now() - h * 3_600_000);

function plant(rel: string, size: number, ageHours: number): string {
  const p = path.join(repo, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, randomBytes(size));
  if (ageHours) fs.utimesSync(p, HOURS_AGO(ageHours), HOURS_AGO(ageHours));
  return rel;
}

const exists = (rel: string) => fs.existsSync(path.join(repo, rel));

beforeAll(() => {
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.bin'), randomBytes(300_000));
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  expect(cli(['-r', repo, 'backup', src], env).code).toBe(0);
});

afterAll(() => tmp.cleanup());

describe('temp files of killed writers', () => {
  const old = () => [
    plant(`data/ab/pack-tmp-${hex(8)}`, 1_500_000, 2),
    plant(`locks/${hex(32)}-tmp-${hex(6)}`, 200, 3),
    plant(`snapshots/${hex(32)}-tmp-123456789`, 300, 5), // restic's local backend
    plant(`index/${hex(32)}-restic-temp-${hex(16)}`, 400, 2), // restic's sftp backend
  ];

  it('check lists them as non-critical (exit 0); backup removes the stale ones, keeps fresh ones', () => {
    const stale = old();
    const fresh = plant(`data/cd/pack-tmp-${hex(8)}`, 1000, 0);
    const other = plant(`data/ab/not-a-temp-file`, 10, 5); // not ours to remove
    const chk = cli(['-r', repo, 'check'], env);
    expect(chk.code, chk.stderr).toBe(0);
    expect(chk.stdout).toMatch(/5 temp files left by interrupted writers \(non-critical/);
    for (const rel of [...stale, fresh]) expect(chk.stdout).toContain(rel);
    expect(chk.stdout).toMatch(/no errors were found/);

    fs.writeFileSync(path.join(src, 'b.bin'), randomBytes(10_000));
    const b = cli(['-r', repo, 'backup', '-v', '-v', src], env);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/removed 4 stale temp files/);
    for (const rel of stale) expect(exists(rel), rel).toBe(false);
    expect(exists(fresh)).toBe(true);
    expect(exists(other)).toBe(true);
    fs.rmSync(path.join(repo, other));
    fs.utimesSync(path.join(repo, fresh), HOURS_AGO(2), HOURS_AGO(2));
  });

  it('prune removes them too, and restic check accepts the repository', () => {
    const stale = old();
    const p = cli(['-r', repo, 'prune'], env);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/removed 5 stale temp files/); // these four and the one aged above
    for (const rel of stale) expect(exists(rel), rel).toBe(false);
    const chk = cli(['-r', repo, 'check'], env);
    expect(chk.stdout).not.toMatch(/temp files/);
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
  });

  it('our REST server removes upload temp files a killed instance left, when it starts', async () => {
    const data = path.join(tmp.dir, 'rest');
    const dir = path.join(data, 'team', 'repo', 'data', 'ab');
    fs.mkdirSync(dir, { recursive: true });
    const dead = path.join(dir, `.${hex(32)}.tmp-${hex(8)}`);
    const live = path.join(dir, `.${hex(32)}.tmp-${hex(8)}`);
    fs.writeFileSync(dead, randomBytes(5000));
    fs.utimesSync(dead, HOURS_AGO(1), HOURS_AGO(1));
    fs.writeFileSync(live, randomBytes(5000)); // written just now: perhaps another server's upload
    const server = await startRestServerProcess(['--path', data, '--no-auth']);
    try {
      for (let i = 0; i < 100 && fs.existsSync(dead); i++) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(dead)).toBe(false);
      expect(fs.existsSync(live)).toBe(true);
      expect(server.log()).toMatch(/removed 1 stale upload temp files/);
    } finally {
      await server.stop();
    }
  });
});
