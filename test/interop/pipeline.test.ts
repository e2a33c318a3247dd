/**
 * The worker pipeline (ring buffer → worker compress/encrypt/pack assembly → upload) stores
 * exactly what the single-threaded path stores, and restic 0.14 accepts its repositories.
 * Uses the built dist/ modules: worker threads run the compiled blob-worker.js. The BlobPool ring
 * buffer alone: test/unit/blob-pool.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup, type Snapshot } from '../../dist/index.js';
import { workersAvailable } from '../../dist/parallel/blob-pool.js';
import { generateTree, pseudoRandom, textLike } from '../helpers/gentree.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
const POLYNOMIAL = 0x3da3358b4dc173n;
const TIME = '2026-11-23T10:00:00.123456789Z';
let tmp: ReturnType<typeof tempDir>;
let src: string;

beforeAll(() => {
  tmp = tempDir('restic-ts-pipeline-');
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 3 * 1024 * 1024 });
  // More than the 20 MiB ring in total, so it wraps; a copy of big.bin exercises de-duplication
  // of blobs still in flight; the text file is compressible (v2 auto stores it zstd-compressed).
  fs.writeFileSync(path.join(src, 'random-24m.bin'), pseudoRandom('random-24m', 24 * 1024 * 1024));
  fs.writeFileSync(path.join(src, 'text-6m.txt'), textLike('text', 6 * 1024 * 1024));
  fs.copyFileSync(path.join(src, 'big.bin'), path.join(src, 'big-copy.bin'));
  for (const f of ['random-24m.bin', 'text-6m.txt', 'big-copy.bin']) fs.utimesSync(path.join(src, f), 1_600_000_000, 1_600_000_000);
});

afterAll(() => tmp.cleanup());

interface Outcome {
  repoDir: string;
  snapshot: Snapshot;
  /** Tree of the backed-up directory (its ancestors' metadata, e.g. /tmp's mtime, moves between runs). */
  srcTree: string;
  treeBlobs: number;
  blobs: string[];
  compressed: number;
  packs: number;
}

/**
 * `workers` undefined: the default, which encodes the first 8 MiB of new data in-process, then
 * starts workers (the source holds ~40 MiB).
 */
async function run(label: string, version: number, compression: 'auto' | 'off', workers: number | undefined): Promise<Outcome> {
  const repoDir = path.join(tmp.dir, `repo-${label}-w${workers ?? 'default'}`);
  // A small pack size makes many packs, so uploads overlap encoding.
  const repo = await Repository.init(new LocalBackend(repoDir), 'pw', {
    version,
    compression,
    kdf: KDF,
    polynomial: POLYNOMIAL,
    workers,
    packSize: 2 * 1024 * 1024,
  });
  try {
    const r = await backup(repo, [src], { hostname: 'pipeline', time: TIME });
    const blobs: string[] = [];
    let compressed = 0;
    let treeBlobs = 0;
    for (const p of repo.index.allPacks()) {
      for (const b of p.blobs) {
        if (b.type === 'data') blobs.push(b.id);
        else treeBlobs++;
        if (b.uncompressedLength) compressed++;
      }
    }
    let tree: string = r.snapshot.tree!;
    for (const part of src.split('/').filter(Boolean)) {
      const node = (await repo.loadTree(tree)).find((n) => Buffer.from(n.name).toString() === part)!;
      tree = node.subtree!;
    }
    return { repoDir, snapshot: r.snapshot, srcTree: tree, treeBlobs, blobs: blobs.sort(), compressed, packs: repo.index.packCount };
  } finally {
    await repo.close();
  }
}

/**
 * The snapshot without what differs between runs by design: the root tree and the summary's
 * clock times and byte totals (the ancestor directories' trees carry each run's mtimes).
 */
function comparable(s: Snapshot): unknown {
  const { backupStart: _s, backupEnd: _e, dataAdded: _a, dataAddedPacked: _p, ...counts } = s.summary ?? {};
  return { ...s, tree: '', summary: counts };
}

describe('parallel pipeline stores what the single-threaded path stores', () => {
  it('runs against the compiled worker (dist/, built by npm run build before the tests)', () => {
    expect(workersAvailable()).toBe(true);
  });

  const configs = [
    { label: 'v1', version: 1, compression: 'off' as const },
    { label: 'v2-auto', version: 2, compression: 'auto' as const },
    { label: 'v2-off', version: 2, compression: 'off' as const },
  ];
  const written: string[] = [];

  for (const c of configs) {
    it(`${c.label}: same blob IDs, tree IDs and snapshot with 0, 1, 2 and the default number of workers`, async () => {
      const single = await run(c.label, c.version, c.compression, 0);
      const one = await run(c.label, c.version, c.compression, 1);
      const two = await run(c.label, c.version, c.compression, 2);
      const auto = await run(c.label, c.version, c.compression, undefined);
      expect(single.blobs.length).toBeGreaterThan(200);
      expect(single.packs).toBeGreaterThan(10);
      for (const o of [one, two, auto]) {
        expect(o.srcTree).toBe(single.srcTree);
        expect(comparable(o.snapshot)).toEqual(comparable(single.snapshot));
        expect(o.blobs).toEqual(single.blobs);
        expect(o.treeBlobs).toBe(single.treeBlobs);
        expect(new Set(o.blobs).size).toBe(o.blobs.length); // no blob stored twice
        expect(o.compressed).toBe(single.compressed);
      }
      if (c.label === 'v2-auto') expect(single.compressed).toBeGreaterThan(0);
      else expect(single.compressed).toBe(c.version === 1 ? 0 : single.treeBlobs); // v2 always compresses trees
      written.push(one.repoDir, two.repoDir, auto.repoDir);
    }, 120_000);
  }

  it('restic check --read-data accepts repositories written by the workers', () => {
    expect(written.length).toBe(9);
    for (const dir of written) {
      const out = resticOk(dir, 'pw', ['check', '--read-data']);
      expect(out).toContain('no errors were found');
    }
  }, 180_000);
});
