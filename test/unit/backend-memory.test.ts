import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { NotFoundError, ResticError } from '../../src/errors.js';
import { collect, expectBytes, randomFile, runBackendSuite } from '../helpers/backend-suite.js';

runBackendSuite('memory', () => new MemoryBackend());

describe('MemoryBackend specifics', () => {
  it('has a default and a custom location', () => {
    expect(new MemoryBackend().location).toBe('memory:');
    expect(new MemoryBackend('memory:test').location).toBe('memory:test');
  });

  it('a Buffer passed to save is copied, not shared', async () => {
    const be = new MemoryBackend();
    const { name, data } = randomFile(32);
    const buf = Buffer.from(data);
    await be.save({ type: 'pack', name }, buf);
    buf.fill(0);
    expectBytes(await be.load({ type: 'pack', name }), data);
  });

  it('list is a snapshot: removing while iterating is safe', async () => {
    const be = new MemoryBackend();
    const files = [randomFile(1), randomFile(2), randomFile(3)];
    for (const f of files) await be.save({ type: 'lock', name: f.name }, f.data);
    const seen: string[] = [];
    for await (const fi of be.list('lock')) {
      seen.push(fi.name);
      await be.remove({ type: 'lock', name: fi.name });
    }
    expect(seen.sort()).toEqual(files.map((f) => f.name).sort());
    expect(await collect(be.list('lock'))).toEqual([]);
  });

  it('error messages name the location', async () => {
    const be = new MemoryBackend('memory:x');
    const err = await be.load({ type: 'config', name: 'config' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe('config file does not exist in memory:x');
    await be.save({ type: 'config', name: 'config' }, new Uint8Array(1));
    await expect(be.create()).rejects.toThrow(ResticError);
  });
});
