/**
 * Start-up work moved off the critical path: the pure-JS Poly1305 used until libsodium's
 * WASM has loaded gives the same tags, zstd initialises on first use, and an index read
 * in the background (while a lock settles) is only kept when the index files are unchanged.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPoly1305, poly1305Js } from '../src/crypto/poly1305.js';
import { zstdCompress, zstdDecompress } from '../src/compress/zstd.js';
import { MemoryBackend } from '../src/backends/memory.js';
import { Repository } from '../src/repo/repository.js';
import { TEST_KDF_PARAMS } from '../src/crypto/kdf.js';

describe('lazy WASM', () => {
  it('pure-JS Poly1305 equals libsodium on edge and random inputs', async () => {
    const sodium = (await import('libsodium-wrappers-sumo')).default;
    await sodium.ready;
    await loadPoly1305();
    for (let n = 0; n < 400; n++) {
      const len = n < 70 ? n : crypto.randomInt(0, 3000);
      const msg = crypto.randomBytes(len);
      const key = crypto.randomBytes(32);
      if (n % 5 === 0) msg.fill(0xff);
      if (n % 7 === 0) key.fill(0xff, 0, 16);
      expect(Buffer.from(poly1305Js(msg, key)).toString('hex')).toBe(Buffer.from(sodium.crypto_onetimeauth(msg, key)).toString('hex'));
    }
  });

  it('zstd works synchronously on first use', () => {
    const text = Buffer.from('restic '.repeat(5000));
    const z = zstdCompress(text);
    expect(z.length).toBeLessThan(text.length / 10);
    expect(Buffer.from(zstdDecompress(z, text.length)).equals(text)).toBe(true);
  });
});

describe('index prefetch', () => {
  async function blobsOf(repo: Repository, ids: string[]): Promise<boolean[]> {
    return ids.map((id) => repo.index.has('data', id));
  }

  it('keeps a prefetched index only while the index files are unchanged', async () => {
    const backend = new MemoryBackend();
    const writer = await Repository.init(backend, 'pw', { kdf: TEST_KDF_PARAMS, workers: 0 });
    const a = (await writer.saveBlob('data', Buffer.from('first blob'))).id;
    await writer.flush();
    const firstIndex: string[] = [];
    for await (const f of backend.list('index')) firstIndex.push(f.name);
    expect(firstIndex).toHaveLength(1);

    // unchanged: the prefetched index is used as is
    const r1 = await Repository.open(backend, 'pw', { workers: 0 });
    r1.prefetchIndex();
    await r1.loadIndex();
    expect(await blobsOf(r1, [a])).toEqual([true]);

    // an index file added after the prefetch started is seen
    const r2 = await Repository.open(backend, 'pw', { workers: 0 });
    r2.prefetchIndex();
    const b = (await writer.saveBlob('data', Buffer.from('second blob'))).id;
    await writer.flush();
    await r2.loadIndex();
    expect(await blobsOf(r2, [a, b])).toEqual([true, true]);

    // an index file removed meanwhile (a prune finished) is forgotten
    const r3 = await Repository.open(backend, 'pw', { workers: 0 });
    r3.prefetchIndex();
    await new Promise((r) => setTimeout(r, 20));
    await backend.remove({ type: 'index', name: firstIndex[0]! });
    await r3.loadIndex();
    expect(await blobsOf(r3, [a, b])).toEqual([false, true]);
  });
});
