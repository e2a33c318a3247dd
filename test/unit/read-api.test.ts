/**
 * The reading API (issue 15 item 6): stat, listDirectory, walk and readFile by snapshot and
 * path, UTF-8 string paths and raw byte paths for names that are not UTF-8, and restore into
 * a caller-supplied sink.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LocalBackend,
  MemoryBackend,
  NotFoundError,
  Repository,
  type ResticError,
  UsageError,
  backup,
  backupEntries,
  listDirectory,
  readFile,
  restoreToSink,
  stat,
  walk,
} from '../../src/index.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';
import { tempDir } from '../helpers/tmp.js';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

const big = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;

describe('reading by path', () => {
  let repo: Repository;
  let snap: string;
  beforeAll(async () => {
    repo = await Repository.init(new MemoryBackend(), 'pw', { kdf: TEST_KDF_PARAMS });
    const r = await backupEntries(repo, [
      { path: 'café/naïve.txt', content: 'crème brûlée\n' },
      { path: 'café/big.bin', content: big },
      { path: 'etc/hosts', content: '127.0.0.1 localhost\n' },
      { path: 'link', type: 'symlink', linktarget: 'etc/hosts' },
    ]);
    snap = r.snapshotId;
  });
  afterAll(() => repo.close());

  it('stat and readFile with UTF-8 string paths; the content streams in verified chunks', async () => {
    const e = await stat(repo, snap, '/café/naïve.txt');
    expect(e.node.type).toBe('file');
    expect(e.path).toBe('/café/naïve.txt');
    expect((await collect(readFile(repo, snap, '/café/naïve.txt'))).toString()).toBe('crème brûlée\n');
    expect((await collect(readFile(repo, 'latest', 'café/big.bin'))).equals(big)).toBe(true);
    expect((await stat(repo, snap, '/')).node.type).toBe('dir');
  });

  it('lists one directory and walks a subtree, parents first', async () => {
    const names = (await listDirectory(repo, snap, '/café')).map((e) => e.path);
    expect(names).toEqual(['/café/big.bin', '/café/naïve.txt']);
    const all: string[] = [];
    for await (const e of walk(repo, snap)) all.push(`${e.node.type} ${e.path}`);
    expect(all).toEqual(['dir /café', 'file /café/big.bin', 'file /café/naïve.txt', 'dir /etc', 'file /etc/hosts', 'symlink /link']);
  });

  it('typed errors: missing path NOT_FOUND, a directory is not a file (USAGE), ".." refused', async () => {
    const missing = await stat(repo, snap, '/cafe/naïve.txt').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as ResticError).code).toBe('NOT_FOUND');
    expect(await collect(readFile(repo, snap, '/etc')).catch((e: unknown) => e)).toBeInstanceOf(UsageError);
    expect(await stat(repo, snap, '/etc/../etc').catch((e: unknown) => e)).toBeInstanceOf(UsageError);
    expect(await listDirectory(repo, snap, 42 as unknown as string).catch((e: unknown) => e)).toBeInstanceOf(UsageError);
  });

  it("holds a shared lock while a walk is iterated; another operation takes its own, not the walk's", async () => {
    const locks = async () => {
      let n = 0;
      for await (const _ of repo.listIds('lock')) n++;
      return n;
    };
    const it = walk(repo, snap)[Symbol.asyncIterator]();
    await it.next();
    expect(await locks()).toBe(1);
    let during = 0;
    async function* entries() {
      during = await locks();
      yield { path: 'x', content: 'y' };
    }
    await backupEntries(repo, entries());
    expect(during).toBe(2); // the walk's lock and the backup's own
    await it.return(undefined);
    expect(await locks()).toBe(0);
  });

  it('restores into a caller-supplied sink', async () => {
    const got = new Map<string, string>();
    const r = await restoreToSink(repo, snap, {
      async entry(e, content) {
        got.set(e.path, content ? (await collect(content)).toString('latin1') : e.node.type);
      },
    });
    expect(r.entries).toBe(6);
    expect(r.bytes).toBe(big.length + Buffer.byteLength('crème brûlée\n') + 20);
    expect(got.get('/café/naïve.txt')).toBe(Buffer.from('crème brûlée\n').toString('latin1'));
    expect(got.get('/café/big.bin')).toBe(big.toString('latin1'));
    expect(got.get('/link')).toBe('symlink');
  });
});

describe('names that are not UTF-8', () => {
  const tmp = tempDir('restic-ts-readapi-');
  afterAll(() => tmp.cleanup());

  it('are reached by their raw bytes; walk reports them as bytes too', async () => {
    const src = path.join(tmp.dir, 'src');
    fs.mkdirSync(src);
    const raw = Buffer.from([0x66, 0xff, 0x2e, 0x74]); // "f\xff.t": not UTF-8
    fs.writeFileSync(Buffer.concat([Buffer.from(src + '/'), raw]), 'latin1 bytes\n');
    const repo = await Repository.init(new LocalBackend(path.join(tmp.dir, 'repo')), 'pw', { kdf: TEST_KDF_PARAMS });
    try {
      const { snapshotId } = await backup(repo, [src]);
      const full = Buffer.concat([Buffer.from(src + '/'), raw]);
      expect((await collect(readFile(repo, snapshotId, full))).toString()).toBe('latin1 bytes\n');
      // The string form cannot name it: U+FFFD is not the byte 0xff.
      expect(await stat(repo, snapshotId, `${src}/f\ufffd.t`).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
      const found = [];
      for await (const e of walk(repo, snapshotId, src)) found.push(e);
      expect(found.length).toBe(1);
      expect(Buffer.from(found[0]!.pathBytes).equals(full)).toBe(true);
      expect(found[0]!.path).toBe(`${src}/f\ufffd.t`);
    } finally {
      await repo.close();
    }
  });
});
