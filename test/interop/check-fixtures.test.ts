/**
 * restic's damaged fixture repositories: restic-ts check reports the same kinds of fault
 * restic 0.14 reports (same packs, same exit code), and restic-ts rebuild-index repairs them
 * exactly as far as restic's rebuild-index does (judged by both tools' check afterwards).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'geheim';
const env = { RESTIC_PASSWORD: PASSWORD };
const FIXTURES = path.resolve('test/fixtures/restic-testdata');
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir('restic-ts-check-fx-');
});
afterAll(() => tmp.cleanup());
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

function extract(name: string, as: string): string {
  const dir = path.join(tmp.dir, as);
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('tar', ['-xzf', path.join(FIXTURES, `${name}.tar.gz`), '-C', dir]);
  expect(r.status).toBe(0);
  return path.join(dir, 'repo');
}

interface Report {
  code: number;
  /** Kind of fault → the packs (or trees) it names. */
  kinds: Map<string, Set<string>>;
}

/** Fault kinds in either tool's check output (both print restic's wording). */
function categorize(code: number, out: string): Report {
  const kinds = new Map<string, Set<string>>();
  const add = (k: string, what: string) => (kinds.get(k) ?? kinds.set(k, new Set()).get(k)!).add(what);
  const rules: Array<[string, RegExp]> = [
    ['duplicate-pack', /^pack ([0-9a-f]{64}) contained in several indexes/gm],
    ['mixed-pack', /^pack ([0-9a-f]{8}) contains a mix of tree and data blobs/gm],
    ['missing-pack', /^pack ([0-9a-f]{64}): does not exist/gm],
    ['pack-size', /^pack ([0-9a-f]{64}): unexpected file size/gm],
    ['orphaned-pack', /^pack ([0-9a-f]{64}): not referenced in any index/gm],
    ['tree', /^error for tree ([0-9a-f]{8}):/gm],
    ['blob-not-indexed', /blob ([0-9a-f]{64}) not found in index/gm],
    ['tree-not-found', /^ {2}id ([0-9a-f]{64}) not found in repository/gm],
  ];
  for (const [k, re] of rules) for (const m of out.matchAll(re)) add(k, m[1]!);
  return { code, kinds };
}

/** Let vitest's worker answer its RPC between the long synchronous child processes. */
const tick = () => new Promise((r) => setImmediate(r));

async function ours(repo: string, args: string[] = []): Promise<Report> {
  await tick();
  const r = cli(['-r', repo, 'check', ...args], env);
  return categorize(r.code, r.stdout + r.stderr);
}

async function theirs(repo: string, args: string[] = []): Promise<Report> {
  await tick();
  const r = restic(repo, PASSWORD, ['check', ...args]);
  return categorize(r.code, r.stdout + r.stderr);
}

const CASES: Array<{ name: string; faults: string[]; repairable: boolean }> = [
  { name: 'repo-data-missing', faults: ['missing-pack'], repairable: false },
  { name: 'repo-unreferenced-data', faults: ['orphaned-pack'], repairable: true },
  { name: 'repo-index-missing-blob', faults: ['orphaned-pack', 'tree', 'blob-not-indexed'], repairable: true },
  { name: 'repo-index-missing', faults: ['orphaned-pack', 'tree', 'tree-not-found'], repairable: true },
  { name: 'repo-duplicates', faults: [], repairable: true },
  { name: 'duplicate-packs-in-index-test-repo', faults: ['duplicate-pack'], repairable: true },
  { name: 'repo-obsolete-index', faults: ['duplicate-pack'], repairable: true },
  { name: 'repo-unused-data-missing', faults: ['missing-pack', 'pack-size'], repairable: true },
  { name: 'repo-mixed', faults: ['mixed-pack'], repairable: true },
];

describe.each(CASES)('fixture $name', ({ name, faults, repairable }) => {
  it('check reports what restic reports; rebuild-index repairs as far as restic does', async () => {
    const repo = extract(name, name);
    const mine = await ours(repo);
    const ref = await theirs(repo);
    expect([...ref.kinds.keys()].sort()).toEqual([...faults].sort()); // the fixture is what we think
    expect(mine.code).toBe(ref.code);
    expect(mine.kinds).toEqual(ref.kinds);

    await tick();
    const json = cli(['-r', repo, '--json', 'check'], env);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const summary = lines.pop();
    expect(summary.message_type).toBe('summary');
    expect(summary.num_errors > 0).toBe(ref.code !== 0);
    expect(lines.every((l) => l.message_type === 'error' || l.message_type === 'hint')).toBe(true);

    // Repair with restic-ts on one copy and with restic on another: both tools must then see the same.
    const repoRestic = extract(name, `${name}-restic-rebuilt`);
    await tick();
    resticOk(repoRestic, PASSWORD, ['rebuild-index']);
    const rebuilt = cli(['-r', repo, 'rebuild-index'], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(/done\n$/);
    const afterRestic = await theirs(repoRestic);
    const afterOurs = await theirs(repo);
    expect(afterOurs).toEqual(afterRestic);
    expect(await ours(repo)).toEqual(afterRestic);
    expect(afterOurs.code).toBe(repairable ? 0 : 1);
    if (repairable) {
      expect(afterOurs.kinds.has('duplicate-pack')).toBe(false);
      expect(cli(['-r', repo, 'check', '--read-data'], env).code).toBe(0);
    }
  });
});
