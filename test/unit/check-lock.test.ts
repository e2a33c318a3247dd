/**
 * check while its lock settles: the cache fetches the index, snapshot and tree files (and
 * --read-data its packs) between the lock's write and its second look; under the lock check
 * lists again and reads them from the cache, and what it reports is what the repository holds
 * then.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend, Repository, backup, check } from '../../src/index.js';
import type { CallOptions, FileInfo, FileType, Handle } from '../../src/backends/backend.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';

/** A memory store that logs loads (by type), lock writes and lock listings, in order. */
class LoggingBackend extends MemoryBackend {
  readonly log: string[] = [];
  override async load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    this.log.push(h.type === 'pack' ? `load pack ${h.name}` : `load ${h.type}`);
    return super.load(h, offset, length, opts);
  }
  override async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    if (h.type === 'lock') this.log.push('save lock');
    return super.save(h, data, opts);
  }
  override async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    if (type === 'lock') this.log.push('list lock');
    yield* super.list(type, opts);
  }
}

let dir: string;
let store: LoggingBackend;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-lock-'));
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'a', 'b'), { recursive: true });
  for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(src, i % 3 ? 'a' : 'a/b', `f${i}`), `file ${i} `.repeat(50 * i + 1));
  store = new LoggingBackend();
  const repo = await Repository.init(store, 'pw', { kdf: TEST_KDF_PARAMS });
  await backup(repo, [src]);
  await backup(repo, [path.join(src, 'a')]);
  await repo.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const between = (log: string[], from: string, to: string) => log.slice(log.indexOf(from) + 1, log.lastIndexOf(to));

describe('check under its lock', () => {
  it("fetches index, snapshot and tree files into the cache and read-data's packs during the wait; loads nothing after", async () => {
    const repo = await Repository.open(store, 'pw', { cache: { dir: path.join(dir, 'cache1') } });
    store.log.length = 0;
    const result = await check(repo, { readData: true });
    expect(result.errors).toBe(0);
    expect(result.snapshots).toBe(2);
    const log = store.log;
    const wait = between(log, 'save lock', 'list lock');
    expect(wait).toEqual(expect.arrayContaining(['load index', 'load snapshot']));
    expect(wait.some((l) => l.startsWith('load pack '))).toBe(true);
    // read-data's packs (the repository's own bytes, verified whole) download during the wait
    // too; under the lock the index and snapshot files come from the cache and nothing more is
    // loaded
    const after = log.slice(log.lastIndexOf('list lock') + 1);
    expect(after).toEqual([]);
    const packLoads = wait.filter((l) => l.startsWith('load pack '));
    expect(new Set(packLoads).size).toBe(result.packsRead);
    // once for read-data, and tree packs once more for the cache
    for (const l of new Set(packLoads)) expect(packLoads.filter((x) => x === l).length).toBeLessThanOrEqual(2);
    await repo.close();
  });

  it('without a cache nothing is fetched ahead: every file is read once, under the lock', async () => {
    const repo = await Repository.open(store, 'pw', { cache: false });
    store.log.length = 0;
    const result = await check(repo, {});
    expect(result.errors).toBe(0);
    expect(between(store.log, 'save lock', 'list lock')).toEqual([]);
    await repo.close();
  });

  it('a snapshot added while the lock settled is checked (check lists again under the lock)', async () => {
    const repo = await Repository.open(store, 'pw', { cache: { dir: path.join(dir, 'cache2') } });
    const writer = await Repository.open(store, 'pw', { cache: false });
    const result = await check(repo, {
      lock: true,
      lockOptions: {
        onWritten: () =>
          // a snapshot of an existing tree, saved during the wait (no lock: it only adds a file)
          void writer.listSnapshots().then(([s]) => writer.saveSnapshot({ ...s!.snapshot, time: new Date().toISOString() })),
      },
    });
    expect(result.errors).toBe(0);
    expect(result.snapshots).toBe(3);
    await writer.close();
    await repo.close();
  });
});
