/**
 * Issue 7: examples/operator.js runs as its own process — a local repository and the internal
 * backup server (our REST server, in that process) — and restores identical dumps.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/spawn-async.js';

describe('examples/operator.js', () => {
  it('runs: local repository and internal server, backup, list, restore by short ID, identical dumps', async () => {
    const r = await run(process.execPath, [path.resolve(__dirname, '../../examples/operator.js')], {});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^Backup snapshot ID: [0-9a-f]{8}$/gm)).toHaveLength(2);
    expect(r.stdout.match(/dump identical: true/g)).toHaveLength(2);
    expect(r.stdout).toContain('status: {"message":"Backup is in progress. Start time: ');
    expect(r.stdout).toContain('"state":"InProgress","stage":"Sending backup shapshot to backup server"}');
    expect(r.stdout).toMatch(
      /status: \{"message":"Backup successfully finished at [^"]+","state":"Succeeded","snapshotId":"[0-9a-f]{8}","cheVersion":"[^"]+"\}/,
    );
  }, 120_000);
});
