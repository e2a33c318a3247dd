/** AbortableBackend: the CLI's per-command signal; after it nothing is written or deleted but locks. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortableBackend } from '../../src/backends/abortable.js';
import { LocalBackend } from '../../src/backends/local.js';
import { AbortedError } from '../../src/errors.js';
import { isLocalStore } from '../../src/cache/backend.js';
import { tempDir } from '../helpers/tmp.js';

const ID = (c: string) => c.repeat(64);
const bytes = new Uint8Array([1, 2, 3]);
let tmp: { dir: string; cleanup: () => void } | undefined;
afterEach(() => tmp?.cleanup());

async function setup(): Promise<{ ac: AbortController; be: AbortableBackend; root: string }> {
  tmp = tempDir('h18-abortable-');
  const root = path.join(tmp.dir, 'repo');
  const inner = new LocalBackend(root);
  await inner.create();
  const ac = new AbortController();
  return { ac, be: new AbortableBackend(inner, ac.signal), root };
}

describe('AbortableBackend', () => {
  it('passes everything through before the signal, and is still a local store', async () => {
    const { be } = await setup();
    await be.save({ type: 'snapshot', name: ID('a') }, bytes);
    expect(await be.load({ type: 'snapshot', name: ID('a') })).toEqual(bytes);
    expect((await be.stat({ type: 'snapshot', name: ID('a') })).size).toBe(3);
    await be.remove({ type: 'snapshot', name: ID('a') });
    expect(isLocalStore(be)).toBe(true);
    expect(be.packTempDir).toBeTypeOf('function');
  });

  it('after the signal: no save, load, list or remove starts; a lock is still removed', async () => {
    const { ac, be, root } = await setup();
    await be.save({ type: 'snapshot', name: ID('b') }, bytes);
    await be.save({ type: 'lock', name: ID('c') }, bytes);
    ac.abort();
    await expect(be.save({ type: 'snapshot', name: ID('d') }, bytes)).rejects.toBeInstanceOf(AbortedError);
    await expect(be.remove({ type: 'snapshot', name: ID('b') })).rejects.toBeInstanceOf(AbortedError);
    await expect(be.load({ type: 'snapshot', name: ID('b') })).rejects.toBeInstanceOf(AbortedError);
    const list = async () => {
      for await (const f of be.list('snapshot')) void f;
    };
    await expect(list()).rejects.toBeInstanceOf(AbortedError);
    expect(fs.readdirSync(path.join(root, 'snapshots'))).toEqual([ID('b')]);
    await be.remove({ type: 'lock', name: ID('c') });
    expect(fs.readdirSync(path.join(root, 'locks'))).toEqual([]);
  });

  it('after the signal, a pack temp file offered for adoption is removed, not kept', async () => {
    const { ac, be } = await setup();
    const tmpFile = path.join(be.packTempDir!(), 'pack-tmp-0123456789abcdef');
    fs.mkdirSync(path.dirname(tmpFile), { recursive: true });
    fs.writeFileSync(tmpFile, bytes);
    ac.abort();
    await expect(be.adoptTempFile!({ type: 'pack', name: ID('e') }, tmpFile)).rejects.toBeInstanceOf(AbortedError);
    expect(fs.existsSync(tmpFile)).toBe(false);
  });
});
