/**
 * Start-up work moved off the critical path: the pure-JS Poly1305 used until libsodium's
 * WASM has loaded gives the same tags, zstd initialises on first use, and an index read
 * in the background (while a lock settles) is only kept when the index files are unchanged.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPoly1305, poly1305Js } from '../../src/crypto/poly1305.js';
import { zstdCompress, zstdDecompress } from '../../src/compress/zstd.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';

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

describe('walk caches', () => {
  it('cached local time text equals the uncached formatting across zone transitions', async () => {
    const { execFileSync } = await import('node:child_process');
    const path = await import('node:path');
    const gojson = path.resolve('dist/go/time.js');
    // Runs in a child so TZ takes effect: every second around some transitions, plus random
    // instants from 1800 to 2200 (LMT offsets with seconds, clamped years), random nsec.
    const script = `
      const { formatLocalGoTime, formatGoTime, localOffsetMinutes } = await import(${JSON.stringify(gojson)});
      const ref = (s, ns) => formatGoTime(BigInt(s), ns, localOffsetMinutes(s * 1000));
      let seed = 1, checked = 0;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const probe = (s) => {
        for (const ns of [0, 1, 120000000, Math.floor(rnd() * 1e9)]) {
          const got = formatLocalGoTime(BigInt(s), ns), want = ref(s, ns);
          if (got !== want) throw new Error(s + ' ' + ns + ': ' + got + ' != ' + want);
          checked++;
        }
      };
      const transitions = [Date.UTC(2021, 2, 28, 1), Date.UTC(2021, 9, 31, 1), Date.UTC(2021, 2, 14, 7), Date.UTC(2021, 10, 7, 6),
        Date.UTC(2021, 3, 3, 15), Date.UTC(2021, 9, 2, 15, 30), Date.UTC(1892, 1, 1), Date.UTC(1940, 3, 1)];
      for (const t of transitions) for (let s = t / 1000 - 1900; s < t / 1000 + 1900; s += 7) probe(s);
      for (let i = 0; i < 20000; i++) probe(Math.floor(-5364662400 + rnd() * 12623040000));
      for (const s of [-62135596800, -62135596801, 253402300799, 253402300800, 0, -1]) probe(s);
      console.log(checked);
    `;
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Europe/Amsterdam']) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, TZ: tz },
        encoding: 'utf8',
      });
      expect(Number(out.trim())).toBeGreaterThan(80000);
    }
  });

  it('a re-encoded tree keeps its bytes when names and content lists come from a decoded tree', async () => {
    const { decodeTree, encodeTree, sortNodes } = await import('../../src/format/tree.js');
    const id = (c: string) => c.repeat(64);
    const names = ['b', 'a"q', 'ä', '\x01ctl', '<&>', 'Z', 'a', 'sp ace'].map((s) => Buffer.from(s, 'utf8'));
    names.push(Buffer.from([0xff, 0x41]), Buffer.from([0xe2, 0x80, 0xa8])); // invalid UTF-8, U+2028
    const nodes = names.map((name, i) => ({
      name: new Uint8Array(name),
      type: 'file' as const,
      mode: 0o644,
      mtime: '2021-03-28T03:00:00.5+02:00',
      atime: '2021-03-28T03:00:00.5+02:00',
      ctime: '2021-03-28T03:00:00+02:00',
      uid: 1000,
      gid: 1000,
      inode: BigInt(1000 + i),
      deviceId: 0xffff_ffff_ffffn,
      size: i,
      links: 1,
      content: i % 2 ? [id('a'), id(String(i % 10))] : [],
    }));
    const bytes = encodeTree(sortNodes(nodes));
    const decoded = decodeTree(bytes);
    // twice: the second time the cached name text and checked content lists are used
    expect(Buffer.from(encodeTree(decoded)).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(encodeTree(decoded)).equals(Buffer.from(bytes))).toBe(true);
    // a fresh node reusing a decoded name and content list (the archiver's unchanged file)
    const reused = decoded.map((n) => ({ ...n, name: n.name, content: n.content }));
    expect(Buffer.from(encodeTree(sortNodes(reused.reverse()))).equals(Buffer.from(bytes))).toBe(true);
    // decoded content lists cannot be altered behind the encoder's back
    expect(() => (decoded[1]!.content as string[]).push('x')).toThrow(TypeError);
    // sorting is by raw bytes (0xff sorts after every UTF-8 lead byte below it)
    expect(sortNodes(nodes.slice()).map((n) => Buffer.from(n.name).toString('hex'))).toEqual(
      names.map((n) => n.toString('hex')).sort((x, y) => Buffer.compare(Buffer.from(x, 'hex'), Buffer.from(y, 'hex'))),
    );
  });
});

describe('index files during a backup', () => {
  it('writes an index file as soon as stored packs hold indexMaxBlobs blobs, and every blob once in all', async () => {
    const backend = new MemoryBackend();
    await Repository.init(backend, 'pw', { kdf: TEST_KDF_PARAMS, workers: 0 });
    const repo = await Repository.open(backend, 'pw', { workers: 0, packSize: 4096, indexMaxBlobs: 100 });
    const listIndex = async () => {
      const ids: string[] = [];
      for await (const f of backend.list('index')) ids.push(f.name);
      return ids;
    };
    const saved: string[] = [];
    for (let i = 0; i < 1000; i++) saved.push((await repo.saveBlob('data', crypto.randomBytes(200 + (i % 50)))).id);
    await new Promise((r) => setTimeout(r, 10));
    const during = await listIndex();
    expect(during.length).toBeGreaterThanOrEqual(5); // ~1000 blobs stored before the end, 100 per file
    await repo.flush();

    const count = new Map<string, number>();
    let packsSeen = 0;
    for (const id of await listIndex()) {
      const { decodeIndex } = await import('../../src/format/index-file.js');
      const idx = decodeIndex(await repo.loadUnpacked('index', id), id);
      const blobs = idx.packs.reduce((n, p) => n + p.blobs.length, 0);
      expect(blobs).toBeLessThan(100 + 30); // a file closes once it reaches 100 (plus one pack's worth)
      packsSeen += idx.packs.length;
      for (const p of idx.packs) for (const b of p.blobs) count.set(b.id, (count.get(b.id) ?? 0) + 1);
    }
    expect(new Set(saved).size).toBe(1000);
    for (const id of saved) expect(count.get(id)).toBe(1);
    let packFiles = 0;
    for await (const _ of backend.list('pack')) packFiles++;
    expect(packsSeen).toBe(packFiles); // each pack in exactly one index file

    const reopened = await Repository.open(backend, 'pw', { workers: 0 });
    await reopened.loadIndex();
    for (const id of saved) expect(reopened.index.has('data', id)).toBe(true);
  });
});

describe('tree decoding with JSON.parse first', () => {
  it('falls back to the bigint parser only when a number read would lose precision', async () => {
    const { decodeTree } = await import('../../src/format/tree.js');
    const tree = (fields: string) =>
      Buffer.from(
        `{"nodes":[{"name":"a","type":"file","mtime":"2021-01-01T00:00:00Z","atime":"2021-01-01T00:00:00Z","ctime":"2021-01-01T00:00:00Z","uid":0,"gid":0${fields},"content":[]}]}\n`,
      );
    expect(decodeTree(tree(',"inode":1234567890123456'))[0]!.inode).toBe(1234567890123456n); // 16 digits, safe
    expect(decodeTree(tree(',"inode":9007199254740993,"size":5'))[0]!.inode).toBe(9007199254740993n);
    expect(decodeTree(tree(',"generic_attributes":{"k":{"n":12345678901234567890,"f":1.5}}'))[0]!.genericAttributes).toEqual({
      k: '{"n":12345678901234567890,"f":1.5}',
    });
    // a big number in a field restic does not know is ignored either way
    expect(decodeTree(tree(',"future":99999999999999999999'))[0]!.size).toBeUndefined();
    expect(() => decodeTree(tree(',"inode":-99999999999999999999'))).toThrow(/inode/);
    expect(() => decodeTree(Buffer.from('{"nodes":[{"name":"a", 12345678901234567'))).toThrow(FormatErrorLike);
  });
});

const FormatErrorLike = /invalid JSON/;
