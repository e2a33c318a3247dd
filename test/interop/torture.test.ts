/**
 * A short run of the kill-9 campaign (scripts/torture.mjs; the long run is
 * `npm run torture -- --kills 100`): random SIGKILLs of backup, prune, forget and copy on a
 * local and a REST repository and of the REST server, each followed by restic's
 * `check --read-data`, a new backup and a restore compared with the source; at the end no
 * temp file and no lock is left.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { run } from '../helpers/spawn-async.js';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/torture.mjs');

it('survives random kills: restic check passes, no snapshot lost, leftovers cleaned', async () => {
  const r = await run(process.execPath, [SCRIPT, '--kills', '5', '--seed', '18'], {}, 600_000);
  const last = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  const summary = JSON.parse(last.startsWith('{') ? last : '{}') as {
    ok?: boolean;
    kills?: number;
    checkErrors?: number;
    snapshotsLost?: number;
    failures?: string[];
    leftovers?: Record<string, { before: number; after: number; locks: number }>;
  };
  expect(summary.failures ?? [r.stdout, r.stderr], r.stdout + r.stderr).toEqual([]);
  expect(summary.kills).toBeGreaterThanOrEqual(5);
  expect(summary.checkErrors).toBe(0);
  expect(summary.snapshotsLost).toBe(0);
  for (const l of Object.values(summary.leftovers ?? {})) expect([l.after, l.locks]).toEqual([0, 0]);
  expect(summary.ok).toBe(true);
  expect(r.code).toBe(0);
}, 600_000);
