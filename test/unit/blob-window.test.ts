/**
 * The reader's window into the workers' ring (file contents read in place, long chunks
 * hashed by a worker) and packs written to temp files in a local repository: same blobs as
 * bytes handed over by copy, no temp file left behind, packs committed like save() does.
 * Uses the built dist/ modules: worker threads run the compiled blob-worker.js.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backup } from '../../dist/index.js';
import { BlobPool } from '../../dist/parallel/blob-pool.js';

/** A pack as onPack receives it (derived, so knip need not see dist/ to know the export is used). */
type WorkerPack = Parameters<ConstructorParameters<typeof BlobPool>[0]['onPack']>[0];
import { newRandomKey, decrypt } from '../../dist/crypto/index.js';
import { parsePackBytes } from '../../dist/format/pack.js';
import { generateTree, pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
const tmp = tempDir('restic-ts-blob-window-');
afterAll(() => tmp.cleanup());

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

describe('BlobPool window', () => {
  it('wraps a small ring many times; taken, held and dropped blobs end up exactly as sent', async () => {
    const key = newRandomKey();
    const packs: WorkerPack[] = [];
    const pool = new BlobPool({
      key,
      version: 1,
      compression: 'off',
      packSize: 300 * 1024,
      workers: 2,
      ringSize: 256 * 1024,
      onPack: (p) => packs.push({ ...p, bytes: new Uint8Array(p.bytes) }),
      onStored: () => undefined,
    });
    // A 3 MiB "file" cut at pseudo-random lengths up to 40 KiB, read in pieces of up to 50 KiB.
    const file = pseudoRandom('window-file', 3 * 1024 * 1024);
    const cuts = pseudoRandom('window-cuts', 4096);
    const expected = new Map<string, Buffer>();
    const held: Array<Promise<void>> = [];
    let readPos = 0;
    let chunkStart = 0;
    let nextCut = 0;
    const w = pool.openWindow();
    try {
      for (;;) {
        if (w.limit - w.end < 16 * 1024) await pool.grow(w, 16 * 1024);
        const n = Math.min(w.limit - w.end, 50 * 1024, file.length - readPos);
        if (n <= 0) break;
        w.bytes.set(file.subarray(readPos, readPos + n), w.end);
        readPos += n;
        pool.fill(w, n);
        for (;;) {
          const want = 1 + (cuts.readUInt16LE((2 * nextCut) % cuts.length) % (40 * 1024));
          if (w.end - w.start < want) break;
          const bytes = file.subarray(chunkStart, chunkStart + want);
          expect(Buffer.from(w.bytes.subarray(w.start, w.start + want)).equals(bytes)).toBe(true);
          const mode = nextCut % 3;
          if (mode === 0) {
            pool.take(w, want, 'data', sha(bytes));
            expected.set(sha(bytes), Buffer.from(bytes));
          } else if (mode === 1) {
            const h = pool.hold(w, want, 'data');
            held.push(
              h.id.then((id) => {
                expect(id).toBe(sha(bytes));
                if (nextCut % 2) {
                  pool.store(h, id);
                  expected.set(id, Buffer.from(bytes));
                } else pool.drop(h);
              }),
            );
          } else {
            pool.take(w, want, 'data', null); // already stored: dropped at once
          }
          chunkStart += want;
          nextCut++;
        }
      }
    } finally {
      pool.closeWindow(w);
    }
    await Promise.all(held);
    await pool.flush();
    await pool.close();
    expect(nextCut).toBeGreaterThan(100);
    const seen = new Set<string>();
    for (const p of packs) {
      expect(sha(p.bytes)).toBe(p.id);
      const { blobs } = await parsePackBytes(key, p.id, p.bytes);
      for (const b of blobs) {
        const plain = decrypt(key, p.bytes.subarray(b.offset, b.offset + b.length));
        expect(Buffer.from(plain).equals(expected.get(b.id)!)).toBe(true);
        seen.add(b.id);
      }
    }
    expect(seen.size).toBe(expected.size);
  }, 60_000);
});

describe('packs written to temp files in a local repository', () => {
  it('leaves no temp file, names each pack by its SHA-256 and makes it read-only, as save() does', async () => {
    const src = path.join(tmp.dir, 'src');
    generateTree(src, { bigFileSize: 6 * 1024 * 1024 });
    const dir = path.join(tmp.dir, 'repo');
    const repo = await Repository.init(new LocalBackend(dir), 'pw', { version: 2, kdf: KDF, workers: 2, packSize: 1024 * 1024 });
    try {
      await backup(repo, [src], { hostname: 'h' });
    } finally {
      await repo.close();
    }
    const data = path.join(dir, 'data');
    expect(fs.readdirSync(data).filter((f) => !/^[0-9a-f]{2}$/.test(f))).toEqual([]);
    let packs = 0;
    for (const sub of fs.readdirSync(data)) {
      for (const name of fs.readdirSync(path.join(data, sub))) {
        const file = path.join(data, sub, name);
        expect(name.startsWith(sub)).toBe(true);
        expect(sha(fs.readFileSync(file))).toBe(name);
        expect(fs.statSync(file).mode & 0o777).toBe(0o400);
        packs++;
      }
    }
    expect(packs).toBeGreaterThan(5);
  }, 60_000);

  it('removes the temp files of unfinished packs when the repository is closed without a flush', async () => {
    const dir = path.join(tmp.dir, 'repo-unflushed');
    const repo = await Repository.init(new LocalBackend(dir), 'pw', { version: 1, kdf: KDF, workers: 1 });
    // Temp packs live in a data/XX directory under a name that is not an ID.
    const tempFiles = () =>
      fs
        .readdirSync(path.join(dir, 'data'))
        .flatMap((sub) => fs.readdirSync(path.join(dir, 'data', sub)).filter((f) => !/^[0-9a-f]{64}$/.test(f)));
    // More than one batch (1 MiB) reaches the worker, which opens a pack in a temp file.
    for (let i = 0; i < 16; i++) await repo.saveBlob('data', pseudoRandom(`unflushed${i}`, 100_000));
    for (let i = 0; i < 100 && !tempFiles().length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tempFiles()).toHaveLength(1);
    await repo.close();
    expect(tempFiles()).toEqual([]);
  }, 60_000);
});
