/**
 * Restore and check --read-data on the worker threads (the CLI runs dist/, where the worker
 * file exists) against the in-process path (the library from the sources, where it does not):
 * files spanning several packs (written through descriptors the main thread holds), a chunk
 * repeated inside one file, hundreds of small files finished on the workers, hard links,
 * empty files, --verify, and a damaged blob failing only its own file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { diffTrees, generateTree, pseudoRandom } from '../helpers/gentree.js';
import { LocalBackend, Repository, check, restore } from '../../src/index.js';
import type { Node } from '../../src/format/node.js';

const PASSWORD = 'secret';
const ENV = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let src: string;
let repo: string;

beforeAll(() => {
  tmp = tempDir();
  src = path.join(tmp.dir, 'src');
  // 40 MiB of random data spans several packs.
  generateTree(src, { bigFileSize: 40 * 1024 * 1024 });
  // The same 6 MiB twice: chunks repeat inside one file (one blob, several offsets).
  const half = pseudoRandom('dup-half', 6 * 1024 * 1024);
  fs.writeFileSync(path.join(src, 'dup.bin'), Buffer.concat([half, half]));
  fs.linkSync(path.join(src, 'big.bin'), path.join(src, 'big-hardlink.bin'));
  fs.linkSync(path.join(src, 'dir0/sub0/file1.txt'), path.join(src, 'small-hardlink.txt'));
  repo = path.join(tmp.dir, 'repo');
  expect(cli(['-r', repo, 'init'], ENV).code).toBe(0);
  const b = cli(['-r', repo, 'backup', src], ENV);
  expect(b.stderr).toBe('');
  expect(b.code).toBe(0);
}, 120_000);

afterAll(() => tmp?.cleanup());

function sameInode(a: string, b: string): boolean {
  return fs.statSync(a).ino === fs.statSync(b).ino;
}

/** The snapshot's node for `name` directly inside the backed-up directory. */
async function topNode(r: Repository, name: string): Promise<Node> {
  const { snapshot } = await r.findSnapshot('latest');
  let nodes = await r.loadTree(snapshot.tree!);
  for (const part of src.split('/').filter(Boolean))
    nodes = await r.loadTree(nodes.find((n) => Buffer.from(n.name).toString() === part)!.subtree!);
  return nodes.find((n) => Buffer.from(n.name).toString() === name)!;
}

describe('restore and check on worker threads', () => {
  it('restores every file, link and time like the in-process path, and --verify passes', async () => {
    const viaCli = path.join(tmp.dir, 'out-cli');
    const c = cli(['-r', repo, 'restore', 'latest', '--target', viaCli, '--verify'], ENV);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/verified \d+ files/);
    expect(diffTrees(src, path.join(viaCli, src), { mtimeToleranceNs: 1000n })).toEqual([]);
    // Node sets times through libuv, which keeps microseconds: each is the source's, cut to the µs.
    for (const name of fs.readdirSync(src, { recursive: true }) as string[]) {
      const a = fs.lstatSync(path.join(src, name), { bigint: true }).mtimeNs;
      const b = fs.lstatSync(path.join(viaCli, src, name), { bigint: true }).mtimeNs;
      expect(b, name).toBe((a / 1000n) * 1000n);
    }
    expect(sameInode(path.join(viaCli, src, 'big.bin'), path.join(viaCli, src, 'big-hardlink.bin'))).toBe(true);
    expect(sameInode(path.join(viaCli, src, 'dir0/sub0/file1.txt'), path.join(viaCli, src, 'small-hardlink.txt'))).toBe(true);

    const inProcess = path.join(tmp.dir, 'out-lib');
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    const warnings: string[] = [];
    const stats = await restore(r, 'latest', inProcess, { verify: true, onWarning: (w) => warnings.push(`${w.path}: ${w.message}`) });
    expect(warnings).toEqual([]);
    expect(stats.errors).toBe(0);
    expect(stats.bytesWritten).toBe(stats.bytes);
    expect(stats.nodesDone).toBe(stats.nodesTotal);
    expect(diffTrees(path.join(viaCli, src), path.join(inProcess, src))).toEqual([]);
  }, 120_000);

  it('a damaged blob of a multi-pack file fails that file only; check --read-data names its pack', async () => {
    const damaged = path.join(tmp.dir, 'repo-damaged');
    fs.cpSync(repo, damaged, { recursive: true });
    const r = await Repository.open(new LocalBackend(damaged), PASSWORD);
    await r.loadIndex();
    const big = await topNode(r, 'dup.bin');
    const blob = big.content![big.content!.length - 1]!;
    const loc = r.index.lookup('data', blob)[0]!;
    const packFile = path.join(damaged, 'data', loc.packId.slice(0, 2), loc.packId);
    fs.chmodSync(packFile, 0o600);
    const bytes = fs.readFileSync(packFile);
    bytes[loc.offset + 100]! ^= 0x01;
    fs.writeFileSync(packFile, bytes);

    const out = path.join(tmp.dir, 'out-damaged');
    const c = cli(['-r', damaged, 'restore', 'latest', '--target', out], ENV);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('dup.bin');
    expect(c.stderr).toContain(loc.packId);
    const diffs = diffTrees(src, path.join(out, src), { mtimeToleranceNs: 1000n });
    // Only the damaged file differs (its content, and the times it never got).
    expect(diffs.length).toBeGreaterThan(0);
    expect(diffs.filter((d) => !d.startsWith('dup.bin:'))).toEqual([]);

    const chk = cli(['-r', damaged, 'check', '--read-data'], ENV);
    expect(chk.code).toBe(1);
    const got = crypto.createHash('sha256').update(bytes).digest('hex');
    const blobError = `blob ${blob}: data blob ${blob.slice(0, 16)} in pack ${loc.packId}: ciphertext verification failed`;
    expect(chk.stderr).toContain(`Pack ID does not match, want ${loc.packId}, got ${got}; 1 more errors: [${blobError}]`);
    // The in-process path (no worker file next to the sources) finds the same.
    const lib = await check(await Repository.open(new LocalBackend(damaged), PASSWORD), { readData: true });
    expect(lib.findings.filter((f) => f.kind === 'read-data').map((f) => f.message)).toEqual([
      `Pack ID does not match, want ${loc.packId}, got ${got}; 1 more errors: [${blobError}]`,
    ]);
    const sound = cli(['-r', repo, 'check', '--read-data'], ENV);
    expect(sound.stderr).toBe('');
    expect(sound.code).toBe(0);
  }, 120_000);
});
