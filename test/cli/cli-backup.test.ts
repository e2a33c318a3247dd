/** CLI behaviour of backup: JSON status and summary lines, and one-line errors for bad input. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const env = { RESTIC_PASSWORD: 'cli' };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

beforeAll(() => {
  tmp = tempDir();
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, `f${i}`), pseudoRandom(`f${i}`, 200_000));
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
});
afterAll(() => tmp.cleanup());

describe('backup --json', () => {
  it('prints status lines and a summary with restic field names', () => {
    const r = cli(['-r', repo, '--json', 'backup', src], { ...env, RESTIC_PROGRESS_FPS: '10000' });
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const status = lines.filter((l) => l.message_type === 'status');
    expect(status.length).toBeGreaterThan(0);
    expect(status[status.length - 1]).toHaveProperty('bytes_done');
    const summary = lines[lines.length - 1];
    expect(summary).toMatchObject({
      message_type: 'summary',
      files_new: 40,
      files_changed: 0,
      files_unmodified: 0,
      total_files_processed: 40,
      total_bytes_processed: 8_000_000,
    });
    expect(summary.snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    const again = JSON.parse(cli(['-r', repo, '--json', 'backup', src], env).stdout.trim().split('\n').pop()!);
    // No data blob is new. (Tree blobs may be: the intermediate directory nodes above src, e.g.
    // /tmp, carry their own metadata, which other test files change while this one runs.)
    expect(again).toMatchObject({ files_new: 0, files_changed: 0, files_unmodified: 40, data_blobs: 0, dirs_new: 0 });
  });
});

describe('bad input gives one line and the right exit code', () => {
  it.each([
    [['backup', '--no-such-flag', 'x'], 1, /unknown flag: --no-such-flag/],
    [['backup'], 1, /nothing to backup/],
    [['restore', 'latest'], 1, /--target/],
    [['frobnicate'], 1, /unknown command "frobnicate"/],
    [['backup', '--compression', 'fast', 'x'], 1, /invalid compression mode/],
  ])('%j', (args, code, msg) => {
    const r = cli(['-r', repo, ...(args as string[])], env);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(msg as RegExp);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('no repository given', () => {
    const r = cli(['snapshots'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Fatal: Please specify repository location (-r or --repository-file)\n');
  });

  it('repository and password from files and a password command', () => {
    fs.writeFileSync(path.join(tmp.dir, 'repo-file'), repo + '\n');
    fs.writeFileSync(path.join(tmp.dir, 'pw-file'), 'cli\n');
    expect(cli(['--repository-file', path.join(tmp.dir, 'repo-file'), '-p', path.join(tmp.dir, 'pw-file'), 'snapshots'], {}).code).toBe(0);
    expect(cli(['-r', repo, '--password-command', 'echo cli', 'snapshots'], {}).code).toBe(0);
    expect(cli(['snapshots'], { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: path.join(tmp.dir, 'pw-file') }).code).toBe(0);
  });
});
