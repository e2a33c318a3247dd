/** `snapshots` filters, --latest and --group-by give what restic gives on the same repository. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'snaps';
let tmp: ReturnType<typeof tempDir>;
let repo: string;
const env = { RESTIC_PASSWORD: PASSWORD };

beforeAll(() => {
  tmp = tempDir();
  repo = path.join(tmp.dir, 'repo');
  const a = path.join(tmp.dir, 'a');
  const b = path.join(tmp.dir, 'b');
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  fs.writeFileSync(path.join(a, 'f'), 'a');
  fs.writeFileSync(path.join(b, 'f'), 'b');
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
  const runs: Array<[string, string, string, string]> = [
    ['h1', a, 'x', '2026-01-01 10:00:00'],
    ['h1', a, 'x,y', '2026-01-02 10:00:00'],
    ['h2', a, 'y', '2026-01-03 10:00:00'],
    ['h1', b, 'x', '2026-01-04 10:00:00'],
    ['h2', b, 'z', '2026-01-05 10:00:00'],
  ];
  for (const [host, dir, tag, time] of runs) {
    const r = cli(['-r', repo, 'backup', '--host', host, '--tag', tag, '--time', time, dir], env);
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(() => tmp.cleanup());

// restic 0.14 knows neither program_version (0.16+) nor summary (0.17+), so it cannot show them; compare without.
const ours = (args: string[]) =>
  JSON.parse(cli(['-r', repo, 'snapshots', '--json', ...args], env).stdout, (k, v) =>
    k === 'program_version' || k === 'summary' ? undefined : v,
  );
const theirs = (args: string[]) => JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json', ...args]));

describe('snapshots', () => {
  it.each([
    [[]],
    [['--host', 'h1']],
    [['--tag', 'x']],
    [['--tag', 'x,y']],
    [['--latest', '1']],
    [['--group-by', 'host']],
    [['--group-by', 'host,paths']],
    [['--group-by', 'tags', '--host', 'h2']],
  ])('matches restic for %j', (args) => {
    // restic 0.14 emits groups in Go map order (random): compare them sorted by key
    const norm = (v: Array<{ group_key?: unknown }>) =>
      args.includes('--group-by') ? [...v].sort((x, y) => JSON.stringify(x.group_key).localeCompare(JSON.stringify(y.group_key))) : v;
    expect(norm(ours(args))).toEqual(norm(theirs(args)));
  });
});
