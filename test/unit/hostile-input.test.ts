/**
 * Issue 18 item 8: claimed sizes checked before anything is allocated for them, the chunker
 * polynomial checked at open (as restic's LoadConfig), a hard-link node that shares a
 * symlink's inode restored as the file it claims to be, and error words that say what happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FormatError, LocalBackend, MemoryBackend, Repository, restore, type Node } from '../../src/index.js';
import { zstdCompress, zstdDecompress } from '../../src/compress/zstd.js';
import { decodeConfig, encodeConfig } from '../../src/format/config.js';
import { encrypt } from '../../src/crypto/index.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir('h18-hostile-');
});
afterEach(() => tmp.cleanup());

/** A zstd frame that does not record its content size: one raw block holding `data`. */
function frameWithoutSize(data: Buffer): Buffer {
  const bh = (data.length << 3) | 1; // last block, raw
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50, bh & 0xff, (bh >> 8) & 0xff, bh >> 16]), data]);
}

describe('claimed sizes', () => {
  it('an uncompressed_length the frame cannot hold is refused before decompressing', () => {
    const frame = frameWithoutSize(Buffer.alloc(100, 0x61));
    expect(zstdDecompress(frame, 1 << 30, 100)).toEqual(new Uint8Array(Buffer.alloc(100, 0x61)));
    expect(() => zstdDecompress(frame, 1 << 30, 2 ** 32 - 1)).toThrow(
      new FormatError('expected 4294967295 bytes, more than 109 compressed bytes can hold (limit 3571712)'),
    );
  });

  it('a frame header whose size differs from the index is refused', () => {
    const frame = zstdCompress(Buffer.alloc(5000, 1));
    expect(() => zstdDecompress(frame, 1 << 30, 4999)).toThrow(new FormatError('zstd frame holds 5000 bytes, 4999 expected'));
  });

  it('a decompression error says so (not "Failed to compress")', () => {
    const frame = frameWithoutSize(Buffer.alloc(100, 0x61));
    frame[6] = 0xff;
    frame[7] = 0xff;
    expect(() => zstdDecompress(frame, 1 << 30, 100)).toThrow(new FormatError('zstd decompression failed: corrupted data'));
  });

  it('a range beyond the end of a pack file is refused with the real file size', async () => {
    const be = new LocalBackend(path.join(tmp.dir, 'repo'));
    await be.create();
    const h = { type: 'pack' as const, name: 'aa'.repeat(32) };
    await be.save(h, Buffer.alloc(497, 1));
    await expect(be.load(h, 1_000_000_000, 4_000_000_000)).rejects.toThrow(
      /wanted 4000000000 bytes at offset 1000000000, the file has 497 bytes$/,
    );
    await expect(be.load(h, 400, 200)).rejects.toThrow(/wanted 200 bytes at offset 400, the file has 497 bytes$/);
    const mem = new MemoryBackend();
    await mem.save(h, Buffer.alloc(497, 1));
    await expect(mem.load(h, 400, 200)).rejects.toThrow(/wanted 200 bytes at offset 400, the file has 497 bytes$/);
  });
});

describe('the chunker polynomial', () => {
  const config = (pol: string) => Buffer.from(`{"version":2,"id":"${'ab'.repeat(32)}","chunker_polynomial":"${pol}"}`);

  it('a reducible or unusable polynomial is refused when the config is read', () => {
    expect(decodeConfig(config('3da3358b4dc173')).chunkerPolynomial).toBe(0x3da3358b4dc173n);
    expect(() => decodeConfig(config('3da3358b4dc172'))).toThrow(new FormatError('invalid chunker polynomial'));
    expect(() => decodeConfig(config('0'))).toThrow(/unsupported chunker polynomial of degree -1/);
    expect(() => decodeConfig(config('3'))).toThrow(/unsupported chunker polynomial of degree 1/);
  });

  it('opening such a repository fails at once', async () => {
    const be = new MemoryBackend();
    const repo = await Repository.init(be, 'pw', { version: 2, kdf: KDF });
    const bad = { ...repo.config, chunkerPolynomial: 0x3da3358b4dc172n };
    await be.remove({ type: 'config', name: '' });
    await be.save({ type: 'config', name: '' }, encrypt(repo.key, encodeConfig(bad)));
    await expect(Repository.open(be, 'pw')).rejects.toThrow(/invalid chunker polynomial/);
  });
});

describe('a hard-link node sharing a symlink inode', () => {
  it('restores as the regular file it claims to be, not as the symlink', async () => {
    const repo = await Repository.init(new MemoryBackend(), 'pw', { version: 2, kdf: KDF });
    const blob = await repo.saveBlob('data', Buffer.from('file content\n'));
    const common = {
      uid: 0,
      gid: 0,
      mode: 0o644,
      mtime: '2024-01-01T00:00:00Z',
      atime: '2024-01-01T00:00:00Z',
      ctime: '2024-01-01T00:00:00Z',
    };
    const nodes: Node[] = [
      {
        ...common,
        name: Buffer.from('a-link'),
        type: 'symlink',
        linktarget: Buffer.from('/etc/passwd'),
        links: 2,
        inode: 42n,
        content: null,
      },
      { ...common, name: Buffer.from('b-file'), type: 'file', size: 13, links: 2, inode: 42n, content: [blob.id] },
    ] as Node[];
    const tree = await repo.saveTree(nodes);
    await repo.flush();
    const id = await repo.saveSnapshot({ time: '2024-01-01T00:00:00Z', tree, paths: ['/x'], hostname: 'h' });
    const target = path.join(tmp.dir, 'target');
    const warnings: string[] = [];
    await restore(repo, id, target, { onWarning: (w) => warnings.push(w.message) });
    expect(warnings).toEqual([]);
    expect(fs.readlinkSync(path.join(target, 'a-link'))).toBe('/etc/passwd');
    expect(fs.lstatSync(path.join(target, 'b-file')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(target, 'b-file'), 'utf8')).toBe('file content\n');
  });
});
