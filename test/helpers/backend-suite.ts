/**
 * Conformance suite every Backend implementation runs (local, memory, later REST/S3/SFTP):
 *   runBackendSuite('local', async () => new LocalBackend(dir), { cleanup })
 * Each test gets a fresh backend from `makeBackend` on which create() has NOT been called yet.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend, FileInfo, FileType, Handle } from '../../src/backends/backend.js';
import { NotFoundError, ResticError } from '../../src/errors.js';

export interface BackendSuiteOptions {
  /** Called after each test (after close()) with the backend the test used. */
  cleanup?: (be: Backend) => void | Promise<void>;
  /** Size of the "large object" test; 16 MiB unless a slow backend needs less. */
  largeSize?: number;
  /** Number of parallel saves in the concurrency test. */
  concurrency?: number;
  /** false for stores that refuse to save non-ID names (the list-filter test needs them). */
  nonIdNames?: boolean;
}

const ID_TYPES: FileType[] = ['key', 'pack', 'index', 'snapshot', 'lock'];

/** Content-addressed like the real thing: the name is SHA-256 of the bytes. */
export function idOf(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A random file and its ID name. */
export function randomFile(size: number): { name: string; data: Uint8Array } {
  const data = new Uint8Array(randomBytes(size));
  return { name: idOf(data), data };
}

/** An ID with a chosen two-hex-digit prefix (for data/XX placement). */
export function idWithPrefix(prefix: string): string {
  return prefix + randomBytes(31).toString('hex');
}

/** Byte equality without vitest's slow element-wise diff on large arrays. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)).toBe(true);
}

export async function collect(it: AsyncIterable<FileInfo>): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of it) out.push(fi);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function runBackendSuite(name: string, makeBackend: () => Backend | Promise<Backend>, opts: BackendSuiteOptions = {}): void {
  const largeSize = opts.largeSize ?? 16 * 1024 * 1024;
  const concurrency = opts.concurrency ?? 50;

  describe(`backend conformance: ${name}`, () => {
    let be: Backend;

    beforeEach(async () => {
      be = await makeBackend();
    });

    afterEach(async () => {
      await be.close();
      await opts.cleanup?.(be);
    });

    /** create() and store one file of `type`. */
    async function stored(type: FileType, size = 1000): Promise<{ h: Handle; data: Uint8Array }> {
      await be.create();
      const f = randomFile(size);
      const h = { type, name: f.name };
      await be.save(h, f.data);
      return { h, data: f.data };
    }

    it('has a location', () => {
      expect(typeof be.location).toBe('string');
      expect(be.location.length).toBeGreaterThan(0);
    });

    describe('create', () => {
      it('can be called again while there is no config', async () => {
        await be.create();
        await be.create();
      });

      it('refuses to create over an existing repository', async () => {
        await be.create();
        await be.save({ type: 'config', name: 'config' }, new Uint8Array([1, 2, 3]));
        const err = await be.create().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ResticError);
        expect((err as Error).message).toMatch(/config.*exists/i);
      });
    });

    describe('save and load', () => {
      it.each(ID_TYPES)('round-trips a %s file', async (type) => {
        const { h, data } = await stored(type);
        expectBytes(await be.load(h), data);
        expect(await be.stat(h)).toEqual({ name: h.name, size: data.length });
      });

      it('round-trips the config file; its handle name is ignored', async () => {
        await be.create();
        const data = new Uint8Array(randomBytes(300));
        await be.save({ type: 'config', name: 'config' }, data);
        expectBytes(await be.load({ type: 'config', name: '' }), data);
        expect((await be.stat({ type: 'config', name: 'config' })).size).toBe(300);
      });

      it('round-trips an empty file', async () => {
        const { h } = await stored('snapshot', 0);
        expectBytes(await be.load(h), new Uint8Array(0));
        expect((await be.stat(h)).size).toBe(0);
      });

      it('keeps types apart: the same name under two types is two files', async () => {
        await be.create();
        const name = idWithPrefix('ab');
        await be.save({ type: 'index', name }, new Uint8Array([1]));
        await be.save({ type: 'snapshot', name }, new Uint8Array([2, 2]));
        expectBytes(await be.load({ type: 'index', name }), new Uint8Array([1]));
        expectBytes(await be.load({ type: 'snapshot', name }), new Uint8Array([2, 2]));
        await expect(be.load({ type: 'pack', name })).rejects.toBeInstanceOf(NotFoundError);
      });

      it('saving the same file twice is harmless', async () => {
        const { h, data } = await stored('pack');
        await be.save(h, data);
        expectBytes(await be.load(h), data);
        expect(await collect(be.list('pack'))).toEqual([{ name: h.name, size: data.length }]);
      });

      it('stores a copy: mutating the saved or loaded buffer changes nothing', async () => {
        await be.create();
        const { name, data } = randomFile(64);
        const orig = data.slice();
        const h = { type: 'index' as const, name };
        await be.save(h, data);
        data.fill(0);
        const loaded = await be.load(h);
        expectBytes(loaded, orig);
        loaded.fill(7);
        expectBytes(await be.load(h), orig);
      });

      it('accepts a Buffer and a view into a larger buffer', async () => {
        await be.create();
        const big = randomBytes(100);
        const view = new Uint8Array(big.buffer, big.byteOffset + 10, 50);
        const h = { type: 'lock' as const, name: idOf(view) };
        await be.save(h, view);
        expectBytes(await be.load(h), big.subarray(10, 60));
        const h2 = { type: 'lock' as const, name: idOf(big) };
        await be.save(h2, big);
        expectBytes(await be.load(h2), big);
      });

      it(`saves and loads a ${largeSize >> 20} MiB object`, async () => {
        const { h, data } = await stored('pack', largeSize);
        expect((await be.stat(h)).size).toBe(largeSize);
        const back = await be.load(h);
        expect(idOf(back)).toBe(h.name);
        expectBytes(await be.load(h, largeSize - 4096, 4096), data.subarray(largeSize - 4096));
        expectBytes(await be.load(h, 12345, 1 << 20), data.subarray(12345, 12345 + (1 << 20)));
      });

      it(`handles ${concurrency} concurrent saves and loads`, async () => {
        await be.create();
        const files = Array.from({ length: concurrency }, (_, i) => randomFile(100 + i));
        await Promise.all(files.map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
        const loaded = await Promise.all(files.map((f) => be.load({ type: 'pack', name: f.name })));
        loaded.forEach((d, i) => expectBytes(d, files[i]!.data));
        const listed = await collect(be.list('pack'));
        expect(listed).toEqual(files.map((f) => ({ name: f.name, size: f.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1)));
      });
    });

    describe('ranged load', () => {
      const SIZE = 1000;
      let h: Handle;
      let data: Uint8Array;
      beforeEach(async () => {
        ({ h, data } = await stored('pack', SIZE));
      });

      it('reads from an offset to the end (length undefined or 0)', async () => {
        expectBytes(await be.load(h, 100), data.subarray(100));
        expectBytes(await be.load(h, 100, 0), data.subarray(100));
        expectBytes(await be.load(h, 0, 0), data);
      });

      it('reads exactly offset..offset+length', async () => {
        expectBytes(await be.load(h, 0, 1), data.subarray(0, 1));
        expectBytes(await be.load(h, 10, 20), data.subarray(10, 30));
        expectBytes(await be.load(h, SIZE - 1, 1), data.subarray(SIZE - 1));
        expectBytes(await be.load(h, 0, SIZE), data);
      });

      it('an offset at the end yields nothing', async () => {
        expectBytes(await be.load(h, SIZE), new Uint8Array(0));
      });

      it('rejects reads past the end', async () => {
        await expect(be.load(h, SIZE - 10, 11)).rejects.toThrow();
        await expect(be.load(h, 0, SIZE + 1)).rejects.toThrow();
        await expect(be.load(h, SIZE + 1)).rejects.toThrow();
        await expect(be.load(h, SIZE + 5, 1)).rejects.toThrow();
      });

      it('rejects a negative offset or length', async () => {
        await expect(be.load(h, -1)).rejects.toThrow();
        await expect(be.load(h, 0, -5)).rejects.toThrow();
      });
    });

    describe('missing files', () => {
      it('load and stat throw NotFoundError naming the file', async () => {
        await be.create();
        const h = { type: 'snapshot' as const, name: idWithPrefix('5e') };
        const err = await be.load(h).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toContain(h.name);
        await expect(be.load(h, 10, 10)).rejects.toBeInstanceOf(NotFoundError);
        const serr = await be.stat(h).catch((e: unknown) => e);
        expect(serr).toBeInstanceOf(NotFoundError);
        expect((serr as Error).message).toContain(h.name);
      });

      it('a missing config is NotFoundError (how "no repository here" is detected)', async () => {
        await expect(be.load({ type: 'config', name: 'config' })).rejects.toBeInstanceOf(NotFoundError);
        await expect(be.stat({ type: 'config', name: 'config' })).rejects.toBeInstanceOf(NotFoundError);
      });

      it('listing a repository that was never created is empty', async () => {
        for (const t of ID_TYPES) expect(await collect(be.list(t))).toEqual([]);
      });
    });

    describe('list', () => {
      it('lists each type separately with sizes', async () => {
        await be.create();
        const want = new Map<FileType, FileInfo[]>();
        for (const [i, type] of ID_TYPES.entries()) {
          const files = [randomFile(10 + i), randomFile(200 + i)];
          for (const f of files) await be.save({ type, name: f.name }, f.data);
          want.set(
            type,
            files.map((f) => ({ name: f.name, size: f.data.length })),
          );
        }
        for (const type of ID_TYPES) {
          const expected = want.get(type)!.sort((a, b) => (a.name < b.name ? -1 : 1));
          expect(await collect(be.list(type))).toEqual(expected);
        }
      });

      it('lists an empty type as empty', async () => {
        await be.create();
        expect(await collect(be.list('lock'))).toEqual([]);
        expect(await collect(be.list('pack'))).toEqual([]);
      });

      it('lists packs across all data/XX directories', async () => {
        await be.create();
        const names = ['00', '01', '7f', 'a0', 'ff'].map(idWithPrefix);
        for (const [i, n] of names.entries()) await be.save({ type: 'pack', name: n }, new Uint8Array(i + 1));
        expect(await collect(be.list('pack'))).toEqual(names.map((n, i) => ({ name: n, size: i + 1 })));
      });

      // A store that cannot hold such names (restic's REST server answers 400) must refuse them.
      if (opts.nonIdNames === false) {
        it('refuses to store names that are not 64-hex IDs', async () => {
          await be.create();
          const good = randomFile(5);
          await be.save({ type: 'key', name: good.name }, good.data);
          for (const n of ['not-an-id', idWithPrefix('AB'), good.name.slice(1)]) {
            await expect(be.save({ type: 'key', name: n }, new Uint8Array(3))).rejects.toThrow();
          }
          expect(await collect(be.list('key'))).toEqual([{ name: good.name, size: 5 }]);
        });
      } else
        it('ignores names that are not 64-hex IDs', async () => {
          await be.create();
          const good = randomFile(5);
          await be.save({ type: 'key', name: good.name }, good.data);
          // Upper case is a different ID (not good.name uppercased: case-insensitive file systems).
          const bad = ['not-an-id', idWithPrefix('AB'), good.name.slice(1), `${good.name}-tmp-123`, `${good.name}0`];
          for (const n of bad) await be.save({ type: 'key', name: n }, new Uint8Array(3));
          await be.save({ type: 'pack', name: 'ab' + 'z'.repeat(62) }, new Uint8Array(3));
          expect(await collect(be.list('key'))).toEqual([{ name: good.name, size: 5 }]);
          expect(await collect(be.list('pack'))).toEqual([]);
        });

      it('does not list the config file', async () => {
        await be.create();
        await be.save({ type: 'config', name: 'config' }, new Uint8Array(3));
        for (const t of ID_TYPES) expect(await collect(be.list(t))).toEqual([]);
      });
    });

    describe('remove', () => {
      it('removes a file', async () => {
        const { h } = await stored('lock');
        const other = randomFile(7);
        await be.save({ type: 'lock', name: other.name }, other.data);
        await be.remove(h);
        await expect(be.stat(h)).rejects.toBeInstanceOf(NotFoundError);
        await expect(be.load(h)).rejects.toBeInstanceOf(NotFoundError);
        expect(await collect(be.list('lock'))).toEqual([{ name: other.name, size: 7 }]);
      });

      it('removes a pack and the config', async () => {
        const { h } = await stored('pack');
        await be.save({ type: 'config', name: 'config' }, new Uint8Array(1));
        await be.remove(h);
        await be.remove({ type: 'config', name: 'config' });
        expect(await collect(be.list('pack'))).toEqual([]);
        await expect(be.stat({ type: 'config', name: 'config' })).rejects.toBeInstanceOf(NotFoundError);
        await be.create(); // no config any more
      });

      it('removing a missing file is not an error', async () => {
        await be.create();
        await be.remove({ type: 'index', name: idWithPrefix('00') });
        await be.remove({ type: 'pack', name: idWithPrefix('00') });
        await be.remove({ type: 'config', name: 'config' });
      });

      it('a removed file can be saved again', async () => {
        const { h, data } = await stored('snapshot');
        await be.remove(h);
        await be.save(h, data);
        expectBytes(await be.load(h), data);
      });
    });

    it('rejects an empty name', async () => {
      await be.create();
      await expect(be.save({ type: 'index', name: '' }, new Uint8Array(1))).rejects.toThrow();
      await expect(be.load({ type: 'index', name: '' })).rejects.toThrow();
    });
  });
}
