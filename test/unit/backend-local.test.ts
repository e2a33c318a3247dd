import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalBackend, deriveModes } from '../../src/backends/local.js';
import { NotFoundError, ResticError } from '../../src/errors.js';
import { collect, expectBytes, idWithPrefix, randomFile, runBackendSuite } from '../helpers/backend-suite.js';
import { rmrf, tempDir } from '../helpers/tmp.js';

const tmpRoots = new Map<LocalBackend, string>();

runBackendSuite(
  'local',
  () => {
    const { dir } = tempDir('restic-ts-local-');
    const be = new LocalBackend(path.join(dir, 'repo'));
    tmpRoots.set(be, dir);
    return be;
  },
  {
    cleanup: (be) => {
      rmrf(tmpRoots.get(be as LocalBackend)!);
      tmpRoots.delete(be as LocalBackend);
    },
  },
);

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const mode = (p: string): number => fs.statSync(p).mode & 0o777;

/** Every file below dir, relative paths. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...walk(dir, r));
    else out.push(r);
  }
  return out;
}

describe('LocalBackend specifics', () => {
  let tmp: { dir: string; cleanup: () => void };
  let root: string;
  let be: LocalBackend;

  beforeEach(() => {
    tmp = tempDir('restic-ts-local-');
    root = path.join(tmp.dir, 'a', 'repo');
    be = new LocalBackend(root);
  });

  afterEach(() => {
    vi.restoreAllMocks();
    tmp.cleanup();
  });

  it('location is the absolute root', () => {
    expect(new LocalBackend('rel/dir').location).toBe(path.resolve('rel/dir'));
    expect(be.location).toBe(root);
  });

  it('create() makes exactly restic 0.14 layout, all dirs 0700', async () => {
    await be.create();
    expect(fs.readdirSync(root).sort()).toEqual(['data', 'index', 'keys', 'locks', 'snapshots']);
    expect(fs.readdirSync(path.join(root, 'data')).sort()).toEqual(HEX2);
    expect(mode(root)).toBe(0o700);
    for (const d of ['data', 'index', 'keys', 'locks', 'snapshots']) expect(mode(path.join(root, d))).toBe(0o700);
    for (const x of HEX2) expect(mode(path.join(root, 'data', x))).toBe(0o700);
    expect(walk(root)).toEqual([]); // no files, only directories
  });

  it('create() over an existing config throws a ResticError naming the path', async () => {
    await be.create();
    fs.writeFileSync(path.join(root, 'config'), 'x');
    const err = await be.create().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResticError);
    expect((err as Error).message).toContain(path.join(root, 'config'));
  });

  it('create() completes a partial layout', async () => {
    fs.mkdirSync(path.join(root, 'data', '3c'), { recursive: true });
    fs.writeFileSync(path.join(root, 'data', '3c', 'stray'), 'x');
    await be.create();
    expect(fs.readdirSync(path.join(root, 'data')).length).toBe(256);
    expect(fs.readFileSync(path.join(root, 'data', '3c', 'stray'), 'utf8')).toBe('x');
  });

  it('stores files in the default layout, read-only (0400)', async () => {
    await be.create();
    const pack = randomFile(100);
    const key = randomFile(50);
    await be.save({ type: 'pack', name: pack.name }, pack.data);
    await be.save({ type: 'key', name: key.name }, key.data);
    await be.save({ type: 'config', name: 'config' }, new Uint8Array([9]));
    const packPath = path.join(root, 'data', pack.name.slice(0, 2), pack.name);
    expect(fs.readFileSync(packPath).equals(pack.data)).toBe(true);
    expect(mode(packPath)).toBe(0o400);
    expect(mode(path.join(root, 'keys', key.name))).toBe(0o400);
    expect(mode(path.join(root, 'config'))).toBe(0o400);
    expect(be.filename({ type: 'pack', name: pack.name })).toBe(packPath);
  });

  it('leaves no temp files behind', async () => {
    await be.create();
    const files = Array.from({ length: 20 }, () => randomFile(30));
    for (const [i, f] of files.entries()) await be.save({ type: i % 2 ? 'pack' : 'index', name: f.name }, f.data);
    for (const f of walk(root)) expect(path.basename(f)).toMatch(/^[0-9a-f]{64}$/);
    expect(walk(root).length).toBe(20);
  });

  it('writes a temp file next to the target and renames it into place', async () => {
    await be.create();
    const f = randomFile(1000);
    const final = path.join(root, 'data', f.name.slice(0, 2), f.name);
    const seen: Array<{ from: string; to: string; content: Buffer; finalExisted: boolean; tmpMode: number }> = [];
    const realRename = fsp.rename;
    vi.spyOn(fsp, 'rename').mockImplementation(async (from, to) => {
      seen.push({
        from: String(from),
        to: String(to),
        content: fs.readFileSync(from),
        finalExisted: fs.existsSync(to),
        tmpMode: mode(String(from)),
      });
      return realRename(from, to);
    });
    await be.save({ type: 'pack', name: f.name }, f.data);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.to).toBe(final);
    expect(path.dirname(seen[0]!.from)).toBe(path.dirname(final));
    expect(path.basename(seen[0]!.from)).toMatch(new RegExp(`^${f.name}-tmp-[0-9a-f]+$`));
    expect(seen[0]!.content.equals(f.data)).toBe(true);
    expect(seen[0]!.finalExisted).toBe(false);
    expect(seen[0]!.tmpMode).toBe(0o600);
    expect(fs.existsSync(seen[0]!.from)).toBe(false);
  });

  it('removes the temp file when the rename fails', async () => {
    await be.create();
    const f = randomFile(10);
    vi.spyOn(fsp, 'rename').mockRejectedValue(Object.assign(new Error('boom'), { code: 'EIO' }));
    await expect(be.save({ type: 'index', name: f.name }, f.data)).rejects.toThrow('boom');
    expect(fs.readdirSync(path.join(root, 'index'))).toEqual([]);
  });

  it('re-saving an existing read-only file replaces it atomically', async () => {
    await be.create();
    const f = randomFile(100);
    const h = { type: 'pack' as const, name: f.name };
    await be.save(h, f.data);
    await be.save(h, f.data);
    const p = be.filename(h);
    expect(mode(p)).toBe(0o400);
    expect(fs.readFileSync(p).equals(f.data)).toBe(true);
    expect(fs.readdirSync(path.dirname(p))).toEqual([f.name]);
  });

  it('creates data/XX and the root on demand', async () => {
    const f = randomFile(10);
    await be.save({ type: 'pack', name: f.name }, f.data); // no create()
    expect(mode(path.join(root, 'data', f.name.slice(0, 2)))).toBe(0o700);
    await be.create();
    fs.rmdirSync(path.join(root, 'data', 'ab'));
    const name = idWithPrefix('ab');
    await be.save({ type: 'pack', name }, f.data);
    expect(fs.readdirSync(path.join(root, 'data', 'ab'))).toEqual([name]);
  });

  it('list ignores temp files, directories, stray files in data/ and symlinks to nothing', async () => {
    await be.create();
    const f = randomFile(10);
    await be.save({ type: 'pack', name: f.name }, f.data);
    const xx = path.join(root, 'data', f.name.slice(0, 2));
    fs.writeFileSync(path.join(xx, `${f.name}-tmp-1234`), 'partial');
    fs.writeFileSync(path.join(root, 'data', idWithPrefix('00')), 'not in a subdir');
    fs.mkdirSync(path.join(root, 'keys', idWithPrefix('11')));
    fs.symlinkSync(path.join(tmp.dir, 'nowhere'), path.join(root, 'keys', idWithPrefix('22')));
    fs.writeFileSync(path.join(root, 'keys', `${idWithPrefix('33')}-tmp-99`), 'x');
    expect(await collect(be.list('pack'))).toEqual([{ name: f.name, size: 10 }]);
    expect(await collect(be.list('key'))).toEqual([]);
  });

  it('lists packs in extra data subdirectories and through symlinks', async () => {
    await be.create();
    const outside = path.join(tmp.dir, 'elsewhere');
    fs.mkdirSync(outside);
    const a = idWithPrefix('ee');
    fs.writeFileSync(path.join(outside, a), 'abc');
    fs.rmdirSync(path.join(root, 'data', 'ee'));
    fs.symlinkSync(outside, path.join(root, 'data', 'ee'));
    expect(await collect(be.list('pack'))).toEqual([{ name: a, size: 3 }]);
    expectBytes(await be.load({ type: 'pack', name: a }), new TextEncoder().encode('abc'));
  });

  it('a concurrent burst of 200 saves works', async () => {
    await be.create();
    const files = Array.from({ length: 200 }, (_, i) => randomFile(1 + ((i * 7919) % 5000)));
    await Promise.all(files.map((f, i) => be.save({ type: i % 3 ? 'pack' : 'snapshot', name: f.name }, f.data)));
    const packs = await collect(be.list('pack'));
    const snaps = await collect(be.list('snapshot'));
    expect(packs.length + snaps.length).toBe(200);
    for (const [i, f] of files.entries()) {
      const h = { type: i % 3 ? ('pack' as const) : ('snapshot' as const), name: f.name };
      expectBytes(await be.load(h), f.data);
    }
    for (const p of walk(root)) expect(path.basename(p)).not.toContain('-tmp-');
  });

  it('limits open files with the connections option', async () => {
    const small = new LocalBackend(root, { connections: 1 });
    await small.create();
    const files = Array.from({ length: 20 }, () => randomFile(100));
    await Promise.all(files.map((f) => small.save({ type: 'index', name: f.name }, f.data)));
    const loaded = await Promise.all(files.map((f) => small.load({ type: 'index', name: f.name }, 10, 20)));
    loaded.forEach((d, i) => expectBytes(d, files[i]!.data.subarray(10, 30)));
    expect(() => new LocalBackend(root, { connections: 0 })).toThrow(ResticError);
  });

  it('errors carry the path', async () => {
    await be.create();
    const h = { type: 'index' as const, name: idWithPrefix('42') };
    const err = await be.load(h).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(path.join(root, 'index', h.name));
    const serr = await be.stat(h).catch((e: unknown) => e);
    expect((serr as Error).message).toContain(path.join(root, 'index', h.name));
  });

  it('a file shorter than the requested range is an unexpected EOF', async () => {
    await be.create();
    const f = randomFile(100);
    const h = { type: 'pack' as const, name: f.name };
    await be.save(h, f.data);
    const p = be.filename(h);
    fs.chmodSync(p, 0o600);
    fs.truncateSync(p, 50);
    const err = await be.load(h, 40, 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResticError);
    expect((err as Error).message).toMatch(/unexpected EOF/);
    expect((err as Error).message).toContain(p);
  });

  it('load returns a plain Uint8Array that owns its buffer', async () => {
    await be.create();
    const f = randomFile(10);
    await be.save({ type: 'lock', name: f.name }, f.data);
    const d = await be.load({ type: 'lock', name: f.name }, 2, 5);
    expect(Object.getPrototypeOf(d)).toBe(Uint8Array.prototype);
    expect(d.byteOffset).toBe(0);
    expect(d.buffer.byteLength).toBe(5);
  });

  it('removes read-only files', async () => {
    await be.create();
    const f = randomFile(10);
    const h = { type: 'snapshot' as const, name: f.name };
    await be.save(h, f.data);
    await be.remove(h);
    expect(fs.existsSync(be.filename(h))).toBe(false);
  });

  it('rejects names that would escape their directory', async () => {
    await be.create();
    for (const name of ['..', '.', '../config', 'a/b', 'a\\b', 'x\0y']) {
      await expect(be.save({ type: 'key', name }, new Uint8Array(1))).rejects.toThrow(ResticError);
    }
    await expect(be.save({ type: 'bogus' as never, name: idWithPrefix('00') }, new Uint8Array(1))).rejects.toThrow(ResticError);
  });

  it('stat of a directory is not a file', async () => {
    await be.create();
    const name = idWithPrefix('12');
    fs.mkdirSync(path.join(root, 'keys', name));
    await expect(be.stat({ type: 'key', name })).rejects.toThrow(/not a regular file/);
  });

  describe('modes derived from the config (DeriveModesFromFileInfo)', () => {
    it('deriveModes', () => {
      expect(deriveModes(undefined)).toEqual({ dir: 0o700, file: 0o600 });
      expect(deriveModes(0o100600)).toEqual({ dir: 0o700, file: 0o600 });
      expect(deriveModes(0o100400)).toEqual({ dir: 0o700, file: 0o600 });
      expect(deriveModes(0o100440)).toEqual({ dir: 0o770, file: 0o660 });
      expect(deriveModes(0o100640)).toEqual({ dir: 0o770, file: 0o660 });
    });

    it('a group-readable config makes new files 0440 and new dirs group-accessible', async () => {
      await be.create();
      await be.save({ type: 'config', name: 'config' }, new Uint8Array([1]));
      fs.chmodSync(path.join(root, 'config'), 0o440);
      fs.rmdirSync(path.join(root, 'data', 'cd'));
      const shared = new LocalBackend(root);
      const name = idWithPrefix('cd');
      await shared.save({ type: 'pack', name }, new Uint8Array(5));
      expect(mode(shared.filename({ type: 'pack', name }))).toBe(0o440);
      // mkdir is subject to the umask, exactly as restic's MkdirAll is.
      expect(mode(path.join(root, 'data', 'cd')) & 0o700).toBe(0o700);
    });
  });
});
