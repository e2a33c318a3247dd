/**
 * `repair packs` (restic ≥ 0.16): a pack with one damaged blob is salvaged (its intact
 * blobs go to new packs, a copy of the old pack is kept in the working directory, the pack
 * leaves the index and the repository), `repair snapshots --forget` then drops the lost
 * content, and restic 0.14 checks the repository with --read-data and restores the rest.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SCRYPT } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const PASSWORD = 'repair-packs-pw';
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

/** Our CLI run in the temp directory (repair packs writes its pack copies to the working directory). */
const ours = (args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, '-r', repo, ...args], {
    cwd: tmp.dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, RESTIC_PASSWORD: PASSWORD, RESTIC_TS_SCRYPT: TEST_SCRYPT },
    encoding: 'utf8',
  });
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};
const packFiles = () =>
  fs
    .readdirSync(path.join(repo, 'data'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));

beforeAll(() => {
  tmp = tempDir('repair-packs-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'first'), crypto.randomBytes(100_000));
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(src, `file${i}`), crypto.randomBytes(50_000 + i));
  ours(['init']);
  ours(['backup', src]);
});
afterAll(() => tmp.cleanup());

describe('repair packs', () => {
  it('salvages the intact blobs of a damaged pack and restic accepts the result', () => {
    // the data pack is the biggest; its first blob is damaged in the middle
    const pack = packFiles().sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
    const id = path.basename(pack);
    const bytes = fs.readFileSync(pack);
    bytes[1000] = bytes[1000]! ^ 0xff;
    fs.chmodSync(pack, 0o600);
    fs.writeFileSync(pack, bytes);
    expect(restic(repo, PASSWORD, ['check', '--read-data']).code).not.toBe(0);

    const r = ours(['repair', 'packs', id]);
    expect(r.stdout).toContain('salvaging intact data from specified pack files\n');
    expect(r.stderr).toMatch(/failed to load blob [0-9a-f]{64}: /);
    expect(r.stderr).toContain('Use `restic-ts repair snapshots --forget`');
    expect(fs.existsSync(pack)).toBe(false);
    expect(fs.readFileSync(path.join(tmp.dir, `pack-${id}`)).equals(bytes)).toBe(true);

    const repaired = ours(['repair', 'snapshots', '--forget']);
    expect(repaired.stdout).toMatch(/: removed missing content\n/);
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'restored');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', target]);
    let intact = 0;
    for (const n of fs.readdirSync(src)) {
      const restored = fs.readFileSync(path.join(target, src, n));
      if (restored.equals(fs.readFileSync(path.join(src, n)))) intact++;
      else expect(restored.length, n).toBe(0); // the file whose only blob was damaged
    }
    expect(intact).toBe(5);
  });

  it('wants full pack IDs', () => {
    const r = spawnSync(process.execPath, [CLI, '-r', repo, 'repair', 'packs'], {
      env: { PATH: process.env.PATH, RESTIC_PASSWORD: PASSWORD },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('Fatal: no ids specified\n');
  });
});
