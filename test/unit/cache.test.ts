/**
 * The local cache (src/cache): what it keeps, that a warm cache spares the store, and that a
 * damaged, truncated or vanished cached file is re-fetched, reported, and never trusted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend, Repository, backup, type Backend } from '../../src/index.js';
import type { FileInfo, FileType, Handle } from '../../src/backends/backend.js';
import { nodeFs } from '../../src/archiver/fs.js';
import { generateTree } from '../helpers/gentree.js';

const KDF = { N: 1024, r: 8, p: 1 };
let tmp: { dir: string; cleanup: () => void };
let src: string;

/** A store seen through a counter of loads per file type (as a remote server would count them). */
class CountingBackend implements Backend {
  readonly location = 'counting:';
  loads: Record<string, number> = {};
  constructor(readonly inner: Backend) {}
  create = () => this.inner.create();
  save = (h: Handle, d: Uint8Array) => this.inner.save(h, d);
  load(h: Handle, offset?: number, length?: number): Promise<Uint8Array> {
    this.loads[h.type] = (this.loads[h.type] ?? 0) + 1;
    return this.inner.load(h, offset, length);
  }
  stat = (h: Handle) => this.inner.stat(h);
  list = (t: FileType): AsyncIterable<FileInfo> => this.inner.list(t);
  remove = (h: Handle) => this.inner.remove(h);
  close = async () => undefined;
}

beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(process.cwd(), '.tmp-cache-'));
  tmp = { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  src = path.relative(process.cwd(), path.join(tmp.dir, 'src'));
  generateTree(src, { bigFileSize: 64 * 1024 });
});
afterAll(() => tmp.cleanup());

/** A repository on a fresh store, backed up once through a cache in `cacheBase`. */
async function setup(name: string) {
  const store = new MemoryBackend();
  const cacheBase = path.join(tmp.dir, name);
  const init = await Repository.init(store, 'pw', { kdf: KDF });
  const id = init.config.id;
  await init.close();
  const events: string[] = [];
  const open = async () => {
    const counting = new CountingBackend(store);
    const repo = await Repository.open(counting, 'pw', { cache: { dir: cacheBase, onEvent: (m) => events.push(m) }, packSize: 4096 });
    return { repo, counting };
  };
  const { repo } = await open();
  const first = await backup(repo, [src], { hostname: 'h' });
  await repo.close();
  const dir = path.join(cacheBase, id);
  const cached = (sub: string) =>
    fs.existsSync(path.join(dir, sub))
      ? fs
          .readdirSync(path.join(dir, sub), { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => path.join(e.parentPath, e.name))
      : [];
  return { store, cacheBase, dir, events, open, first, cached };
}

describe('local cache', () => {
  it("keeps index, snapshot and tree pack files in restic's layout; a warm re-backup loads none of them from the store", async () => {
    const t = await setup('warm');
    expect(fs.readFileSync(path.join(t.cacheBase, 'CACHEDIR.TAG'), 'utf8')).toBe('Signature: 8a477f597d28d172789f06886806bc55\n');
    expect(fs.readFileSync(path.join(t.dir, 'version'), 'utf8')).toBe('1');
    const packs = t.cached('data');
    expect(packs.length).toBeGreaterThan(1); // trees only, spread over several small packs
    for (const p of packs) {
      const name = path.basename(p);
      expect(path.basename(path.dirname(p))).toBe(name.slice(0, 2));
      expect(Buffer.compare(fs.readFileSync(p), await t.store.load({ type: 'pack', name }))).toBe(0);
    }
    expect(t.cached('index').length).toBeGreaterThan(0);
    expect(t.cached('snapshots')).toHaveLength(1);

    const { repo, counting } = await t.open();
    const r = await backup(repo, [src], { hostname: 'h' });
    await repo.close();
    expect(r.snapshot.tree).toBe(t.first.snapshot.tree);
    expect(counting.loads.index ?? 0).toBe(0);
    expect(counting.loads.snapshot ?? 0).toBe(0);
    expect(counting.loads.pack ?? 0).toBe(0);
    expect(t.events).toEqual([]);
  });

  it('a cached index file with a flipped byte and a truncated tree pack are re-fetched and reported', async () => {
    const t = await setup('damaged');
    const idx = t.cached('index')[0]!;
    const bytes = fs.readFileSync(idx);
    bytes[bytes.length >> 1]! ^= 0x01;
    fs.writeFileSync(idx, bytes);
    for (const p of t.cached('data')) fs.truncateSync(p, fs.statSync(p).size >> 1);

    const { repo, counting } = await t.open();
    const r = await backup(repo, [src], { hostname: 'h' });
    await repo.close();
    expect(r.snapshot.tree).toBe(t.first.snapshot.tree);
    expect(counting.loads.index).toBe(1);
    expect(t.events).toContain(
      `cache: index file ${path.basename(idx)} is damaged in the cache (content does not match its name), re-fetched from the repository`,
    );
    expect(t.events.some((e) => /^cache: pack file [0-9a-f]{64} is damaged in the cache \(cached file is too short/.test(e))).toBe(true);
    // the cache holds good copies again
    expect(Buffer.compare(fs.readFileSync(idx), await t.store.load({ type: 'index', name: path.basename(idx) }))).toBe(0);
  });

  it("a flipped byte inside a cached tree blob fails the blob's MAC: the pack is dropped, re-fetched and reported", async () => {
    const t = await setup('mac');
    for (const p of t.cached('data')) {
      const bytes = fs.readFileSync(p);
      bytes[20]! ^= 0x80; // inside the pack's first blob
      fs.writeFileSync(p, bytes);
    }
    const { repo } = await t.open();
    const r = await backup(repo, [src], { hostname: 'h' });
    await repo.close();
    expect(r.snapshot.tree).toBe(t.first.snapshot.tree);
    const lines = t.events.filter((e) => / failed verification in the cache \(.*\), re-fetched from the repository$/.test(e));
    expect(lines.length).toBeGreaterThan(0);
    for (const p of t.cached('data')) {
      expect(Buffer.compare(fs.readFileSync(p), await t.store.load({ type: 'pack', name: path.basename(p) }))).toBe(0);
    }
  });

  it('cached tree packs deleted while a backup runs are re-fetched and reported', async () => {
    const t = await setup('deleted');
    const { repo } = await t.open();
    let deleted = 0;
    const tampering = {
      ...nodeFs,
      readdir: (p: Buffer) => {
        if (!deleted) {
          for (const f of t.cached('data')) {
            fs.rmSync(f);
            deleted++;
          }
        }
        return nodeFs.readdir(p);
      },
    };
    const r = await backup(repo, [src], { hostname: 'h', fs: tampering });
    await repo.close();
    expect(deleted).toBeGreaterThan(0);
    expect(r.snapshot.tree).toBe(t.first.snapshot.tree);
    expect(t.events.some((e) => /^cache: pack file [0-9a-f]{64} vanished from the cache, re-fetched from the repository$/.test(e))).toBe(
      true,
    );
  });

  it('a local or in-memory store gets no cache by default, a remote one the default directory', async () => {
    const store = new MemoryBackend();
    await (await Repository.init(store, 'pw', { kdf: KDF })).close();
    const local = await Repository.open(store, 'pw');
    expect(local.cacheDir()).toBeUndefined();
    await local.close();
    const dir = path.join(tmp.dir, 'explicit');
    const remote = await Repository.open(new CountingBackend(store), 'pw', { cache: { dir } });
    expect(remote.cacheDir()).toBe(dir);
    await remote.close();
  });

  it('files no longer in the repository leave the cache; cache: false reads the store', async () => {
    const t = await setup('stale');
    const snap = path.basename(t.cached('snapshots')[0]!);
    await t.store.remove({ type: 'snapshot', name: snap });
    // a temp file a killed writer left an hour ago goes too; a fresh one (a writer at work) stays
    const stale = path.join(t.dir, 'snapshots', 'tmp-stale');
    const fresh = path.join(t.dir, 'snapshots', 'tmp-fresh');
    fs.writeFileSync(stale, 'x');
    fs.writeFileSync(fresh, 'x');
    const hourAgo = new Date(Date.now() - 3_700_000);
    fs.utimesSync(stale, hourAgo, hourAgo);
    const { repo } = await t.open();
    expect(await repo.listSnapshots()).toEqual([]);
    await repo.close();
    expect(t.cached('snapshots')).toEqual([fresh]);

    const counting = new CountingBackend(t.store);
    const plain = await Repository.open(counting, 'pw', { cache: false });
    await plain.loadIndex();
    await plain.close();
    expect(counting.loads.index).toBeGreaterThan(0);
  });
});
