/**
 * restic ≥ 0.17's forget rules: no policy is an error, --unsafe-allow-remove-all needs a
 * snapshot filter and then removes every snapshot it selects. After a prune, restic 0.14
 * checks the repository clean and restores what was kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'remove-all-pw';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

const run = (args: string[]) => cli(['-r', repo, ...args], env);
const hostsOf = () => (JSON.parse(run(['snapshots', '--json']).stdout) as Array<{ hostname: string }>).map((s) => s.hostname).sort();

beforeAll(() => {
  tmp = tempDir('forget-remove-all-');
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  expect(run(['init']).code).toBe(0);
  for (const [host, text] of [
    ['h1', 'one'],
    ['h2', 'two'],
    ['h2', 'three'],
    ['h1', 'four'],
  ] as const) {
    fs.writeFileSync(path.join(src, `${host}.txt`), `${text}\n`.repeat(5000));
    expect(run(['backup', '--host', host, src]).code).toBe(0);
  }
});
afterAll(() => tmp.cleanup());

describe('forget --unsafe-allow-remove-all', () => {
  it('refuses an empty policy, and remove-all without a filter', () => {
    const none = run(['forget']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('Fatal: no policy was specified, no snapshots will be removed\n');
    const unfiltered = run(['forget', '--unsafe-allow-remove-all']);
    expect(unfiltered.code).toBe(1);
    expect(unfiltered.stderr).toBe('Fatal: --unsafe-allow-remove-all is not allowed unless a snapshot filter option is specified\n');
    expect(hostsOf()).toEqual(['h1', 'h1', 'h2', 'h2']);
  });

  it('removes every snapshot of the selected host (dry run first)', () => {
    const dry = run(['forget', '--unsafe-allow-remove-all', '--host', 'h2', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const groups = JSON.parse(dry.stdout) as Array<{ host: string; keep: unknown; remove: unknown[] }>;
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ host: 'h2', keep: null });
    expect(groups[0]!.remove).toHaveLength(2);
    expect(hostsOf()).toEqual(['h1', 'h1', 'h2', 'h2']);
    const r = run(['forget', '--unsafe-allow-remove-all', '--host', 'h2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Applying Policy: remove\n');
    expect(r.stdout).toContain('remove 2 snapshots:');
    expect(hostsOf()).toEqual(['h1', 'h1']);
    expect(run(['prune']).code).toBe(0);
  });

  it('restic 0.14 checks clean and restores what was kept', () => {
    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const target = path.join(tmp.dir, 'restored');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--host', 'h1', '--target', target]);
    expect(fs.readFileSync(path.join(target, src, 'h1.txt'), 'utf8')).toBe('four\n'.repeat(5000));
    expect(fs.readFileSync(path.join(target, src, 'h2.txt'), 'utf8')).toBe('three\n'.repeat(5000));
  });
});
