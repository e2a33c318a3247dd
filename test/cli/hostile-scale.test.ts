/**
 * Issue 18 items 3 and 5: snapshots far larger than usual. forget on a snapshot with 2,000,000
 * tags (the old table code trimmed each line with a regex quadratic in its padding: 20,000 tags
 * took 13 s, 2,000,000 would take days), a signal honoured in the middle of it, and a 190 MB
 * snapshot whose table is longer than V8's longest string ("Invalid string length" before).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository } from '../../dist/index.js';
import { TEST_SCRYPT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const ENV = { RESTIC_PASSWORD: 'pw' };
const KDF = { N: 1024, r: 8, p: 1 };
let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  tmp = tempDir('h18-scale-');
});
afterAll(() => tmp.cleanup());

const childEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', RESTIC_TS_SCRYPT: TEST_SCRYPT, ...ENV });

/** Our CLI with stdout into a file: the output may be longer than a JS string can be. */
function cliToFile(args: string[], out: string): { code: number | null; stderr: string; stdout: Buffer } {
  const fd = fs.openSync(out, 'w');
  try {
    const r = spawnSync(process.execPath, [CLI, ...args], { env: childEnv(), stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    return { code: r.status, stderr: r.stderr, stdout: fs.readFileSync(out) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Lines of a (huge) output, as Buffers. */
function lines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length;) {
    const j = b.indexOf(10, i);
    const end = j < 0 ? b.length : j;
    out.push(b.subarray(i, end));
    i = end + 1;
  }
  return out;
}

/** A repository with one snapshot carrying `tags`, then a newer one with a single tag. */
async function repoWithTags(name: string, tags: string[]): Promise<string> {
  const dir = path.join(tmp.dir, name);
  const repo = await Repository.init(new LocalBackend(dir), 'pw', { version: 2, kdf: KDF });
  const tree = await repo.saveTree([]);
  await repo.flush();
  await repo.saveSnapshot({ time: '2024-01-01T00:00:00Z', tree, paths: ['/x'], hostname: 'h', username: 'u', tags });
  await repo.saveSnapshot({ time: '2024-01-02T00:00:00Z', tree, paths: ['/x'], hostname: 'h', username: 'u', tags: ['small'] });
  return dir;
}

describe('forget with 2,000,000 tags in one snapshot', () => {
  let repo: string;
  const N = 2_000_000;
  beforeAll(async () => {
    // not in order: forget sorts them when grouping by tags
    repo = await repoWithTags(
      'tags',
      Array.from({ length: N }, (_, i) => `t${(i * 7919) % N}`),
    );
  }, 600_000);

  it('--group-by tags: lists the kept and removed snapshots (old code: quadratic in the tag count)', () => {
    const r = cliToFile(['-r', repo, 'forget', '--keep-last', '1', '--dry-run', '--group-by', 'host,tags'], path.join(tmp.dir, 'out'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = lines(r.stdout).map((l) => l.toString());
    expect(text.filter((l) => l.endsWith(' '))).toEqual([]);
    expect(text.filter((l) => l === '1 snapshots')).toHaveLength(2);
    const row = text.find((l) => l.includes(' t0,'))!;
    const tags = row.split(' ').filter(Boolean)[4]!.split(',');
    expect(tags).toHaveLength(N);
    expect(tags.slice(0, 4)).toEqual(['t0', 't1', 't10', 't100']);
  }, 600_000);

  it('SIGTERM while it is busy: exits 130 (restic >= 0.17) within 3 s and removes its lock', async () => {
    const child = spawn(process.execPath, [CLI, '-r', repo, 'forget', '--keep-last', '1', '--dry-run', '--compact'], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // a process that ignores the signal is killed at last, and the test fails on its exit code
    const guard = setTimeout(() => child.kill('SIGKILL'), 300_000);
    let stdout = '';
    let stderr = '';
    let sentAt = 0;
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        // sent once the policy is applied: the CPU-bound part has begun. The line is looked for
        // before the tail is cut: on a busy machine it arrives in one piece with the table after it.
        const seen = stdout + s;
        stdout = seen.slice(-100);
        if (!sentAt && seen.includes('Applying Policy')) {
          child.kill('SIGTERM');
          sentAt = performance.now();
        }
      });
      child.on('close', (c) => resolve(c));
    });
    clearTimeout(guard);
    expect(sentAt, 'the policy line never came: no signal was sent').toBeGreaterThan(0);
    const ms = performance.now() - sentAt;
    console.log(`forget with ${N} tags: SIGTERM -> exit ${code} after ${ms.toFixed(0)} ms`);
    // the one line, no table printed after it, no error line
    expect(stderr).toBe('signal terminated received, cleaning up\n');
    expect(code).toBe(130);
    expect(ms).toBeLessThanOrEqual(3000);
    expect(fs.readdirSync(path.join(repo, 'locks'))).toEqual([]);
  }, 600_000);
});

describe('a 140 MB snapshot', () => {
  it('snapshots and forget list it: the table is longer than a V8 string may be', async () => {
    const tags = Array.from({ length: 140_000 }, (_, i) => String(i).padStart(1000, 'x'));
    const repo = await repoWithTags('big', tags);
    const r = cliToFile(['-r', repo, 'snapshots'], path.join(tmp.dir, 'out'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0x1fffffe8); // V8's longest string
    const text = lines(r.stdout);
    expect(text[0]!.subarray(0, 3).toString()).toBe('ID ');
    expect(text.filter((l) => l.includes(tags[0]!))).toHaveLength(1);
    expect(text.some((l) => l.toString() === '2 snapshots')).toBe(true);

    const f = cliToFile(['-r', repo, 'forget', '--keep-last', '1', '--dry-run'], path.join(tmp.dir, 'out'));
    expect(f.stderr).toBe('');
    expect(f.code).toBe(0);
    expect(f.stdout.includes('remove 1 snapshots:')).toBe(true);
    expect(lines(f.stdout).filter((l) => l.includes(tags[139_999]!))).toHaveLength(1);
  }, 600_000);
});
