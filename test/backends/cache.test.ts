/**
 * The local cache over our REST server, with the CLI and restic 0.14: a warm unchanged
 * re-backup reads no index, snapshot or tree pack from the server (its --prometheus counters);
 * damaged, truncated and deleted cached files are re-fetched and reported while the backup
 * succeeds and restic checks the repository clean; restic reads our cache directory (same
 * layout); `cache` lists and cleans up; check uses a temporary cache it removes.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { diffTrees, generateTree } from '../helpers/gentree.js';
import { RESTIC, resticOk } from '../helpers/restic.js';
import { startRestServerProcess, type ServerProcess } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'cache secret';
const tmp = tempDir('restic-ts-cache-');
let server: ServerProcess;
let src: string;
let cacheBase: string;
let repo: string;
let repoId: string;

const env = () => ({ RESTIC_PASSWORD: PASSWORD });
const ours = (args: string[]) => cli(['-r', repo, '--cache-dir', cacheBase, ...args], env());

/** The server's read counters for the test repository, by directory (data, index, snapshots, …). */
async function reads(): Promise<Record<string, number>> {
  // a fresh connection each time: the server may have closed an idle one meanwhile
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(`${server.url}metrics`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^rest_server_blob_read_total\{repo="c",type="(\w+)",user="[^"]*"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function cachedFiles(sub: string): string[] {
  const dir = path.join(cacheBase, repoId, sub);
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

beforeAll(async () => {
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 1024 * 1024 });
  cacheBase = path.join(tmp.dir, 'cache');
  server = await startRestServerProcess(['--path', path.join(tmp.dir, 'data'), '--no-auth', '--prometheus']);
  repo = `rest:${server.url}c/`;
  expect(cli(['-r', repo, 'init'], env()).code).toBe(0);
  repoId = JSON.parse(cli(['-r', repo, '--no-cache', 'cat', 'config'], env()).stdout).id;
}, 60_000);

afterAll(async () => {
  await server.stop();
  tmp.cleanup();
});

describe('cache over REST', () => {
  it('a warm unchanged re-backup reads no index, snapshot or tree pack from the server', async () => {
    const first = ours(['backup', '--host', 'h', src]);
    expect(first.code, first.stderr).toBe(0);
    expect(cachedFiles('data').length).toBeGreaterThan(0);
    const before = await reads();
    const again = ours(['backup', '--host', 'h', src]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    const after = await reads();
    for (const type of ['data', 'index', 'snapshots']) expect(after[type] ?? 0, type).toBe(before[type] ?? 0);
    // --no-cache reads them all again
    expect(cli(['-r', repo, '--no-cache', 'backup', '--host', 'h', src], env()).code).toBe(0);
    const uncached = await reads();
    for (const type of ['data', 'index', 'snapshots']) expect(uncached[type] ?? 0, type).toBeGreaterThan(after[type] ?? 0);
  });

  it('flipped, truncated and deleted cached files: the backup succeeds, says what it re-fetched, restic checks clean', () => {
    const [pack] = cachedFiles('data');
    const bytes = fs.readFileSync(pack!);
    bytes[20]! ^= 0xff;
    fs.writeFileSync(pack!, bytes);
    const [index, ...more] = cachedFiles('index');
    fs.truncateSync(index!, 10);
    for (const f of [...more, ...cachedFiles('snapshots')]) fs.rmSync(f);
    fs.appendFileSync(path.join(src, 'new-file.txt'), 'added after tampering\n');

    const r = ours(['backup', '--host', 'h', src]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toContain(
      `cache: index file ${path.basename(index!)} is damaged in the cache (content does not match its name), re-fetched from the repository`,
    );
    expect(lines.some((l) => l.startsWith(`cache: pack file ${path.basename(pack!)} failed verification in the cache (`))).toBe(true);
    // files removed between runs are simply not cached: fetched again, not reported (the unit
    // test removes them while a backup runs); each damaged file is reported once
    expect(lines.filter((l) => / vanished /.test(l))).toEqual([]);
    expect(new Set(lines).size).toBe(lines.length);
    for (const l of lines) expect(l).toMatch(/^cache: /);

    resticOk(repo, PASSWORD, ['check', '--read-data']);
    const out = path.join(tmp.dir, 'restored');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', out]);
    expect(diffTrees(src, path.join(out, src))).toEqual([]);
  });

  it("restic 0.14 reads our cache directory (restic's layout), and check leaves no temporary cache behind", async () => {
    const before = await reads();
    const r = spawnSync(RESTIC, ['-r', repo, '--cache-dir', cacheBase, 'ls', 'latest'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RESTIC_PASSWORD: PASSWORD },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('new-file.txt');
    const after = await reads();
    for (const type of ['data', 'index', 'snapshots']) expect(after[type] ?? 0, type).toBe(before[type] ?? 0);

    const check = ours(['check']);
    expect(check.code, check.stderr).toBe(0);
    expect(fs.readdirSync(cacheBase).filter((n) => n.startsWith('restic-check-cache-'))).toEqual([]);
  });

  it('cache lists the directories and removes old ones; --no-cache refuses', () => {
    const list = cli(['cache', '--cache-dir', cacheBase], env());
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^Repo ID +Last Used +Old +Size\\n-+\\n${repoId.slice(0, 10)} +0 days ago +\\d`));
    expect(list.stdout).toContain(`1 cache dirs in ${cacheBase}`);
    expect(cli(['cache', '--cache-dir', cacheBase, '--no-size'], env()).stdout).not.toContain('Size');

    const stale = path.join(cacheBase, 'ab'.repeat(32));
    fs.mkdirSync(stale);
    const old = new Date(Date.now() - 40 * 86_400_000);
    fs.utimesSync(stale, old, old);
    const cleanup = cli(['cache', '--cache-dir', cacheBase, '--cleanup'], env());
    expect(cleanup.stdout).toBe('remove 1 old cache directories\n');
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(path.join(cacheBase, repoId))).toBe(true);
    expect(cli(['cache', '--cache-dir', cacheBase, '--cleanup', '--max-age', '0'], env()).code).toBe(0);
    expect(fs.existsSync(path.join(cacheBase, repoId))).toBe(false);

    // --cleanup-cache on any command that opens the repository
    fs.mkdirSync(stale);
    fs.utimesSync(stale, old, old);
    const snaps = ours(['--cleanup-cache', 'snapshots']);
    expect(snaps.code, snaps.stderr).toBe(0);
    expect(snaps.stdout).toContain(`removing 1 old cache dirs from ${cacheBase}\n`);
    expect(fs.existsSync(stale)).toBe(false);

    const refused = cli(['--no-cache', 'cache'], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the cache is disabled/);
  });
});

describe('init remembers its key; a first backup starts its workers while the key is derived', () => {
  it('init keeps the new key file’s scrypt parameters in the cache base (not with --no-cache); the first backup of 20 MiB checks and restores with restic', () => {
    const base = path.join(tmp.dir, 'kp-cache');
    const repoK = `rest:${server.url}k/`;
    expect(cli(['-r', repoK, '--cache-dir', base, 'init'], env()).code).toBe(0);
    const remembered = fs.readdirSync(path.join(base, 'key-params'));
    expect(remembered).toHaveLength(1);
    const kp = JSON.parse(fs.readFileSync(path.join(base, 'key-params', remembered[0]!), 'utf8')) as { keyId: string; N: number };
    expect(cli(['-r', repoK, '--no-cache', 'list', 'keys'], env()).stdout.trim().split('\n')).toEqual([kp.keyId]);
    expect(kp.N).toBeGreaterThan(0);

    const noCacheBase = path.join(tmp.dir, 'kp-none');
    expect(cli(['-r', `rest:${server.url}k2/`, '--cache-dir', noCacheBase, '--no-cache', 'init'], env()).code).toBe(0);
    expect(fs.existsSync(path.join(noCacheBase, 'key-params'))).toBe(false);

    // No snapshot yet and more than 8 MiB of targets: the blob workers start before the key is known.
    const big = path.join(tmp.dir, 'big-src');
    generateTree(big);
    const backup = cli(['-r', repoK, '--cache-dir', base, 'backup', '--host', 'h', big], env());
    expect(backup.code, backup.stderr).toBe(0);
    resticOk(repoK, PASSWORD, ['check', '--read-data']);
    const out = path.join(tmp.dir, 'big-restored');
    resticOk(repoK, PASSWORD, ['restore', 'latest', '--target', out]);
    expect(diffTrees(big, path.join(out, big))).toEqual([]);
  }, 120_000);
});
