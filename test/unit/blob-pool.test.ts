/** The parallel pipeline's BlobPool ring buffer on its own (the whole pipeline: test/interop/pipeline.test.ts). */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobPool, BlobWorkerSpares } from '../../dist/parallel/blob-pool.js';
import { newRandomKey, decrypt } from '../../dist/crypto/index.js';
import { parsePackBytes, type PackedBlob } from '../../dist/format/pack.js';
import { zstdDecompress } from '../../dist/compress/zstd.js';
import { pseudoRandom, textLike } from '../helpers/gentree.js';

/** Every pack is named by its SHA-256, its header lists its blobs, and together they hold exactly the blobs sent. */
async function expectPacksHold(
  key: ReturnType<typeof newRandomKey>,
  packs: Array<{ id: string; bytes: Uint8Array; blobs: PackedBlob[] }>,
  sent: Map<string, Buffer>,
): Promise<void> {
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
}

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
    await expectPacksHold(key, packs, sent);
  }, 60_000);
});

describe('BlobPool with workers started before the key (BlobWorkerSpares)', () => {
  it('adopts as many as it needs, stops the rest, and its packs decode to the blobs sent', async () => {
    const spares = new BlobWorkerSpares(3);
    expect(spares.count).toBe(3);
    const key = newRandomKey();
    const packs: Array<{ id: string; bytes: Uint8Array; blobs: PackedBlob[] }> = [];
    const pool = new BlobPool({
      key,
      version: 2,
      compression: 'auto',
      packSize: 256 * 1024,
      workers: 2,
      spares,
      onPack: (p) => {
        packs.push({ id: p.id, bytes: new Uint8Array(p.bytes), blobs: p.blobs });
        p.recycle();
      },
      onStored: () => undefined,
    });
    expect(pool.workerCount).toBe(2);
    expect(spares.count).toBe(0); // two adopted, the third stopped
    const sent = new Map<string, Buffer>();
    try {
      for (let i = 0; i < 64; i++) {
        const data = i % 2 ? pseudoRandom(`spare${i}`, 20_000 + i) : textLike(`spare${i}`, 20_000 + i);
        const id = crypto.createHash('sha256').update(data).digest('hex');
        sent.set(id, data);
        await pool.add('data', id, data);
      }
      await pool.flush();
    } finally {
      await pool.close();
    }
    await expectPacksHold(key, packs, sent);
  }, 60_000);

  it('a pool needing more workers than were started early starts the rest; close() stops spares never adopted', async () => {
    const spares = new BlobWorkerSpares(1);
    const pool = new BlobPool({
      key: newRandomKey(),
      version: 1,
      compression: 'off',
      packSize: 64 * 1024,
      workers: 2,
      spares,
      onPack: (p) => p.recycle(),
      onStored: () => undefined,
    });
    expect(pool.workerCount).toBe(2);
    await pool.close();
    const unused = new BlobWorkerSpares(2);
    expect(unused.count).toBe(2);
    await unused.close();
    expect(unused.count).toBe(0);
  }, 60_000);
});
