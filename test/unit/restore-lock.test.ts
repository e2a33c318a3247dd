/**
 * restore's lock taken while it already reads (runOverlapped): the index, the snapshot and the
 * first packs are read and a new target's restore planned during restic's 200 ms wait, but the
 * target is written only after the lock's second look; a refused lock leaves the target untouched.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockError, MemoryBackend, Repository, backup, restore } from '../../src/index.js';
import type { CallOptions, FileInfo, FileType, Handle } from '../../src/backends/backend.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';
import { encodeLock } from '../../src/format/lock-file.js';

/** A memory store that logs lock listings, noting then whether the target exists, and pack reads. */
class WatchingBackend extends MemoryBackend {
  readonly log: string[] = [];
  target = '';
  /** Run once, right after the next lock listing was read. */
  afterLook: (() => Promise<void>) | null = null;
  override async load(h: Handle, offset?: number, length?: number, opts?: CallOptions): Promise<Uint8Array> {
    if (h.type === 'pack') this.log.push('load pack');
    return super.load(h, offset, length, opts);
  }
  override async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    if (type === 'lock') this.log.push(`list lock (target ${fs.existsSync(this.target) ? 'exists' : 'absent'})`);
    yield* super.list(type, opts);
    if (type !== 'lock') return;
    const after = this.afterLook;
    this.afterLook = null;
    await after?.();
  }
}

let dir: string;
let backend: WatchingBackend;

/** Log the repository's tree loads beside the backend's lock listings. */
function logTrees(repo: Repository): void {
  const loadTree = repo.loadTree.bind(repo);
  repo.loadTree = (id: string) => {
    backend.log.push('load tree');
    return loadTree(id);
  };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-lock-'));
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, i % 2 ? 'sub' : '', `f${i}`), `content ${i} `.repeat(100 * i + 1));
  backend = new WatchingBackend();
  const repo = await Repository.init(backend, 'pw', { kdf: TEST_KDF_PARAMS });
  await backup(repo, [src]);
  await repo.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('restore under its lock', () => {
  it('reads packs while the lock settles and writes the target only after the second look', async () => {
    const repo = await Repository.open(backend, 'pw');
    logTrees(repo);
    backend.target = path.join(dir, 'out1');
    backend.log.length = 0;
    const stats = await restore(repo, 'latest', backend.target);
    expect(stats.files).toBe(20);
    const looks = backend.log.filter((l) => l.startsWith('list lock'));
    expect(looks).toEqual(['list lock (target absent)', 'list lock (target absent)']);
    // the first packs were asked for between the two looks
    const between = backend.log.slice(backend.log.indexOf(looks[0]!) + 1, backend.log.lastIndexOf(looks[1]!));
    expect(between).toContain('load pack');
    // and the new target's restore was planned then: no tree is read once the lock is held
    expect(backend.log.slice(backend.log.lastIndexOf(looks[1]!) + 1)).not.toContain('load tree');
    const restored = path.join(backend.target, path.relative('/', path.join(dir, 'src')));
    for (let i = 0; i < 20; i++) {
      expect(fs.readFileSync(path.join(restored, i % 2 ? 'sub' : '', `f${i}`), 'utf8')).toBe(`content ${i} `.repeat(100 * i + 1));
    }
    expect(await backend.list('lock').next()).toEqual({ done: true, value: undefined });
    await repo.close();
  });

  it('a lock refused at the second look leaves the target untouched', async () => {
    const repo = await Repository.open(backend, 'pw');
    const other = await Repository.open(backend, 'pw');
    backend.target = path.join(dir, 'out2');
    backend.log.length = 0;
    // another host's exclusive lock, written just after this restore's first look (its owner
    // looked before this restore's lock existed, so it keeps it)
    backend.afterLook = async () => {
      const info = { time: new Date().toISOString(), exclusive: true, hostname: 'elsewhere', username: 'u', pid: 1 };
      await other.saveUnpacked('lock', encodeLock(info));
    };
    const err = await restore(repo, 'latest', backend.target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(fs.existsSync(backend.target)).toBe(false);
    await other.removeLocks(true);
    await other.close();
    await repo.close();
  });

  it('a target made by another process during the wait is restored as an existing one (its symlinks replaced, not followed)', async () => {
    const repo = await Repository.open(backend, 'pw');
    logTrees(repo);
    backend.target = path.join(dir, 'out4');
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    backend.log.length = 0;
    // the snapshot's first directory, made a symlink to somewhere else before the lock is held
    const first = path.relative('/', dir).split(path.sep)[0]!;
    // made at the second look: after the restore found the target absent and planned for that
    backend.afterLook = async () => {
      backend.afterLook = async () => {
        fs.mkdirSync(backend.target);
        fs.writeFileSync(path.join(backend.target, 'keep.txt'), 'mine');
        fs.symlinkSync(elsewhere, path.join(backend.target, first));
      };
    };
    const stats = await restore(repo, 'latest', backend.target);
    expect(stats.files).toBe(20);
    expect(stats.errors).toBe(0);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.lstatSync(path.join(backend.target, first)).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(backend.target, 'keep.txt'), 'utf8')).toBe('mine');
    const restored = path.join(backend.target, path.relative('/', path.join(dir, 'src')));
    for (let i = 0; i < 20; i++) {
      expect(fs.readFileSync(path.join(restored, i % 2 ? 'sub' : '', `f${i}`), 'utf8')).toBe(`content ${i} `.repeat(100 * i + 1));
    }
    // the plan made for an absent target was dropped and the trees walked again under the lock
    const looks = backend.log.filter((l) => l.startsWith('list lock'));
    expect(looks).toEqual(['list lock (target absent)', 'list lock (target absent)']);
    expect(backend.log.slice(backend.log.lastIndexOf(looks[1]!) + 1)).toContain('load tree');
    await repo.close();
  });

  it('with lock: false nothing waits: the target is written without any lock listing', async () => {
    const repo = await Repository.open(backend, 'pw');
    backend.target = path.join(dir, 'out3');
    backend.log.length = 0;
    const stats = await restore(repo, 'latest', backend.target, { lock: false });
    expect(stats.files).toBe(20);
    expect(backend.log.filter((l) => l.startsWith('list lock'))).toEqual([]);
    await repo.close();
  });
});
