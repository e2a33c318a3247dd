/**
 * The worker pipeline (ring buffer → worker compress/encrypt/pack assembly → upload) stores
 * exactly what the single-threaded path stores, and restic 0.14 accepts its repositories.
 * Uses the built dist/ modules: worker threads run the compiled blob-worker.js.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup, type Snapshot } from '../../dist/index.js';
import { BlobPool, workersAvailable } from '../../dist/parallel/blob-pool.js';
import { newRandomKey, decrypt } from '../../dist/crypto/index.js';
import { parsePackBytes, type PackedBlob } from '../../dist/format/pack.js';
import { zstdDecompress } from '../../dist/compress/zstd.js';
import { generateTree, pseudoRandom } from '../helpers/gentree.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
const POLYNOMIAL = 0x3da3358b4dc173n;
const TIME = '2026-11-23T10:00:00.123456789Z';
let tmp: ReturnType<typeof tempDir>;
let src: string;

/** Text-like, compressible bytes. */
function textLike(label: string, length: number): Buffer {
  const words = ['restic', 'backup', 'pack', 'blob', 'tree', 'index', 'snapshot', 'chunk', 'worker', 'ring'];
  const r = pseudoRandom(label, length);
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < length; i++) {
    const w = words[r[i % r.length]! % words.length]! + (r[(i + 1) % r.length]! % 9 === 0 ? '\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}

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

/** `workers` undefined: the default, which encodes the first 8 MiB of new data in-process, then starts workers (the source holds ~40 MiB). */
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
        expect({ ...o.snapshot, tree: '' }).toEqual({ ...single.snapshot, tree: '' });
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

describe('BlobPool ring buffer', () => {
  it('wraps a tiny ring, bypasses it for huge blobs, and every pack decodes to the blobs sent', async () => {
    const key = newRandomKey();
    const packs: Array<{ id: string; bytes: Uint8Array; blobs: PackedBlob[] }> = [];
    let storedCount = 0;
    const pool = new BlobPool({
      key,
      version: 2,
      compression: 'auto',
      packSize: 200 * 1024,
      workers: 2,
      ringSize: 64 * 1024,
      onPack: (p) => {
        packs.push({ id: p.id, bytes: new Uint8Array(p.bytes), blobs: p.blobs });
        p.recycle();
      },
      onStored: () => storedCount++,
    });
    const sent = new Map<string, Buffer>();
    const scratch = Buffer.alloc(100 * 1024);
    try {
      for (let i = 0; i < 300; i++) {
        // Sizes up to 40 KiB in a 64 KiB ring; every 50th blob (100 KiB) takes the bypass.
        const size = i % 50 === 49 ? 100 * 1024 : 1 + ((i * 7919) % (40 * 1024));
        const data = i % 3 ? pseudoRandom(`blob${i}`, size) : textLike(`blob${i}`, size);
        const id = crypto.createHash('sha256').update(data).digest('hex');
        sent.set(id, data);
        data.copy(scratch);
        await pool.add(i % 7 ? 'data' : 'tree', id, scratch.subarray(0, size));
        scratch.fill(0xee); // the pool must have copied the bytes already
      }
      await pool.flush();
    } finally {
      await pool.close();
    }
    expect(storedCount).toBe(300);
    const seen = new Set<string>();
    for (const p of packs) {
      expect(crypto.createHash('sha256').update(p.bytes).digest('hex')).toBe(p.id);
      const { blobs } = await parsePackBytes(key, p.id, p.bytes);
      expect(blobs).toEqual(p.blobs);
      for (const b of blobs) {
        let plain: Uint8Array = decrypt(key, p.bytes.subarray(b.offset, b.offset + b.length));
        if (b.uncompressedLength) plain = zstdDecompress(plain, b.uncompressedLength, b.uncompressedLength);
        expect(Buffer.from(plain).equals(sent.get(b.id)!)).toBe(true);
        seen.add(b.id);
      }
    }
    expect(seen.size).toBe(sent.size);
  }, 60_000);
});
