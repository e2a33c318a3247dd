/**
 * backup's lock taken while the work already reads (runWithOverlappedLock): writes wait for
 * the lock and for the index the work loaded to be confirmed; a refused lock writes nothing;
 * an index file gone meanwhile (a prune finished) makes the work run again from a fresh load.
 */
import { describe, expect, it } from 'vitest';
import { LockError, MemoryBackend, Repository } from '../../src/index.js';
import type { CallOptions, FileInfo, FileType, Handle } from '../../src/backends/backend.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';
import { runWithOverlappedLock } from '../../src/repository/overlapped-lock.js';

/** A memory store that logs each write, removal and listing, in order. */
class LoggingBackend extends MemoryBackend {
  readonly log: string[] = [];
  override async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    await super.save(h, data, opts);
    this.log.push(`save ${h.type}`);
  }
  override async remove(h: Handle, opts?: CallOptions): Promise<void> {
    await super.remove(h, opts);
    this.log.push(`remove ${h.type}`);
  }
  override async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    this.log.push(`list ${type}`);
    yield* super.list(type, opts);
  }
  /** The names of `type`, without logging. */
  async names(type: FileType): Promise<string[]> {
    const out: string[] = [];
    for await (const f of super.list(type)) out.push(f.name);
    return out.sort();
  }
}

/** A repository with one data pack and its index file, re-opened on `backend`. */
async function setup(): Promise<{ backend: LoggingBackend; repo: Repository }> {
  const backend = new LoggingBackend();
  const first = await Repository.init(backend, 'pw', { kdf: TEST_KDF_PARAMS });
  await first.saveBlob('data', new TextEncoder().encode('some file content'));
  await first.flush();
  await first.close();
  const repo = await Repository.open(backend, 'pw');
  backend.log.length = 0;
  return { backend, repo };
}

const snapshot = (tree: string) => ({ time: new Date().toISOString(), tree, paths: ['/x'], hostname: 'h', username: 'u' });

describe('runWithOverlappedLock', () => {
  it('runs while the lock settles; the snapshot is written only after the second look and the index check', async () => {
    const { backend, repo } = await setup();
    let startedAfter = '';
    const id = await runWithOverlappedLock(repo, async () => {
      startedAfter = backend.log.at(-1) ?? '';
      await repo.loadIndex();
      return repo.saveSnapshot(snapshot('0'.repeat(64)));
    });
    expect(await backend.names('snapshot')).toEqual([id]);
    expect(startedAfter).toBe('save lock');
    // restic's order: look, write the lock, (the work reads meanwhile), look again, confirm the
    // index, and only then write
    expect(backend.log).toEqual([
      'list lock',
      'save lock',
      'list index', // the work's loadIndex
      'list lock',
      'list index', // the index check
      'save snapshot',
      'remove lock',
    ]);
    expect(await backend.names('lock')).toEqual([]);
    await repo.close();
  });

  it('a refused lock is the error, and nothing is written', async () => {
    const { backend, repo } = await setup();
    const other = await Repository.open(backend, 'pw');
    const held = await other.acquireLock(true);
    const before = { packs: (await backend.names('pack')).length, index: (await backend.names('index')).length };
    let ran = 0;
    const err = await runWithOverlappedLock(repo, async () => {
      ran++;
      await repo.loadIndex();
      await repo.saveBlob('data', new TextEncoder().encode('new content'));
      await repo.flush();
      return repo.saveSnapshot(snapshot('1'.repeat(64)));
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect((err as LockError).code).toBe('LOCKED');
    expect(ran).toBe(0); // the pre-check found the exclusive lock: no lock file was written
    expect(await backend.names('snapshot')).toEqual([]);
    expect({ packs: (await backend.names('pack')).length, index: (await backend.names('index')).length }).toEqual(before);
    await held.release();
    // the refused lock left no gate behind: this repository writes again
    await expect(repo.saveSnapshot(snapshot('3'.repeat(64)))).resolves.toMatch(/^[0-9a-f]{64}$/);
    await other.close();
    await repo.close();
  });

  it('an index file gone before the lock was confirmed: the work runs again from a fresh index', async () => {
    const { backend, repo } = await setup();
    const pruner = await Repository.open(backend, 'pw');
    const [oldIndex] = await backend.names('index');
    let runs = 0;
    const id = await runWithOverlappedLock(repo, async () => {
      runs++;
      await repo.loadIndex();
      if (runs === 1) {
        // what a prune finishing now does: a new index file for the same packs, the old one removed
        await pruner.saveUnpacked('index', await pruner.loadUnpacked('index', oldIndex!));
        await backend.remove({ type: 'index', name: oldIndex! });
      }
      return repo.saveSnapshot(snapshot('2'.repeat(64)));
    });
    expect(runs).toBe(2);
    expect(await backend.names('snapshot')).toEqual([id]);
    expect(await backend.names('index')).not.toContain(oldIndex);
    expect(await backend.names('lock')).toEqual([]);
    // the second run read the index the prune left
    expect(backend.log.filter((l) => l === 'list index').length).toBe(3); // first run, the check, second run
    await pruner.close();
    await repo.close();
  });
});

describe('OpenOptions.listings', () => {
  it('a listing made while the key was searched is used once, then the store is asked again', async () => {
    const { backend } = await setup();
    const [index] = await backend.names('index');
    const repo = await Repository.open(backend, 'pw', {
      listings: { index: Promise.resolve([index!]), snapshot: Promise.reject(new Error('down')) },
    });
    backend.log.length = 0;
    const ids = async (type: FileType) => {
      const out: string[] = [];
      for await (const id of repo.listIds(type)) out.push(id);
      return out;
    };
    expect(await ids('index')).toEqual([index]);
    expect(backend.log).toEqual([]); // served by the early listing
    expect(await ids('index')).toEqual([index]);
    expect(await ids('snapshot')).toEqual([]); // a failed early listing is asked again
    expect(backend.log).toEqual(['list index', 'list snapshot']);
    await repo.close();
  });
});
