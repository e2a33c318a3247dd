/**
 * Bad input gives a typed error with a clear message, the right exit code, and leaves
 * the repository exactly as it was.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import {
  IntegrityError,
  KeyParamsError,
  LocalBackend,
  Repository,
  RepositoryNotFoundError,
  WrongPasswordError,
  backup,
} from '../../src/index.js';

const PASSWORD = 'secret';
const KDF = { N: 1024, r: 8, p: 1 };
let tmp: ReturnType<typeof tempDir>;
let pristine: string;

/** Hash of every file (path + bytes) below a directory: proves nothing changed. */
function fingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.statSync(p);
      h.update(p + '\0');
      if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

function copyRepo(name: string): string {
  const dst = path.join(tmp.dir, name);
  fs.cpSync(pristine, dst, { recursive: true });
  return dst;
}

function firstFile(dir: string): string {
  const walk = (d: string): string | undefined => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) {
        const f = walk(p);
        if (f) return f;
      } else return p;
    }
    return undefined;
  };
  const f = walk(dir);
  if (!f) throw new Error(`no file in ${dir}`);
  return f;
}

function flipByte(file: string, at = 40): void {
  fs.chmodSync(file, 0o600);
  const b = fs.readFileSync(file);
  b[Math.min(at, b.length - 1)]! ^= 0x01;
  fs.writeFileSync(file, b);
}

beforeAll(async () => {
  tmp = tempDir();
  const src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'hello restic\n');
  fs.writeFileSync(path.join(src, 'b.bin'), crypto.randomBytes(100_000));
  pristine = path.join(tmp.dir, 'pristine');
  const repo = await Repository.init(new LocalBackend(pristine), PASSWORD, { version: 2, kdf: KDF });
  await backup(repo, [src], { hostname: 'h' });
});
afterAll(() => tmp.cleanup());

describe('opening', () => {
  it('wrong password: WrongPasswordError, exit code 12, nothing changed', async () => {
    const repo = copyRepo('wrongpw');
    const before = fingerprint(repo);
    await expect(Repository.open(new LocalBackend(repo), 'nope')).rejects.toBeInstanceOf(WrongPasswordError);
    const r = cli(['-r', repo, 'snapshots'], { RESTIC_PASSWORD: 'nope' });
    expect(r.code).toBe(12);
    expect(r.stderr).toBe('Fatal: wrong password or no key found\n');
    expect(fingerprint(repo)).toBe(before);
  });

  it('no repository: RepositoryNotFoundError, exit code 10', async () => {
    const missing = path.join(tmp.dir, 'does-not-exist');
    await expect(Repository.open(new LocalBackend(missing), PASSWORD)).rejects.toBeInstanceOf(RepositoryNotFoundError);
    const r = cli(['-r', missing, 'snapshots'], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/^Fatal: repository does not exist: unable to open config file at .*does-not-exist\n$/);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('JSON errors under --json', () => {
    const r = cli(['-r', path.join(tmp.dir, 'nothing'), '--json', 'snapshots'], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code).toBe(10);
    const e = JSON.parse(r.stderr);
    expect(e).toMatchObject({ message_type: 'exit_error', code: 10 });
    expect(e.message).toMatch(/repository does not exist/);
  });

  it('a key file with absurd scrypt parameters is refused quickly', async () => {
    const repo = copyRepo('absurd-kdf');
    const keyDir = path.join(repo, 'keys');
    for (const name of fs.readdirSync(keyDir)) fs.rmSync(path.join(keyDir, name), { force: true });
    const original = fs.readFileSync(path.join(pristine, 'keys', fs.readdirSync(path.join(pristine, 'keys'))[0]!), 'utf8');
    const bad = Buffer.from(original.replace(/"N":\d+/, '"N":1099511627776').replace(/"r":\d+/, '"r":1000'));
    const id = crypto.createHash('sha256').update(bad).digest('hex');
    fs.writeFileSync(path.join(keyDir, id), bad);
    const before = fingerprint(repo);
    const t0 = Date.now();
    const err = await Repository.open(new LocalBackend(repo), PASSWORD).catch((e) => e);
    expect(err).toBeInstanceOf(KeyParamsError);
    expect(String(err.message)).toMatch(/N|r/);
    expect(Date.now() - t0).toBeLessThan(5000); // refused without attempting the derivation
    expect(fingerprint(repo)).toBe(before);
  });
});

describe('damaged files are reported by name', () => {
  it('a flipped byte in a key file', async () => {
    const repo = copyRepo('bad-key');
    const key = firstFile(path.join(repo, 'keys'));
    flipByte(key);
    const before = fingerprint(repo);
    const err = await Repository.open(new LocalBackend(repo), PASSWORD).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(path.basename(key));
    expect(fingerprint(repo)).toBe(before);
  });

  it('a flipped byte in an index file', async () => {
    const repo = copyRepo('bad-index');
    const idx = firstFile(path.join(repo, 'index'));
    flipByte(idx);
    const before = fingerprint(repo);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    const err = await r.loadIndex().catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(path.basename(idx));
    const c = cli(['-r', repo, 'restore', 'latest', '--target', path.join(tmp.dir, 'out-bad-index')], { RESTIC_PASSWORD: PASSWORD });
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(path.basename(idx));
    expect(c.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(fingerprint(repo)).toBe(before);
  });

  it('a flipped byte in a snapshot file', async () => {
    const repo = copyRepo('bad-snapshot');
    const snap = firstFile(path.join(repo, 'snapshots'));
    flipByte(snap);
    const before = fingerprint(repo);
    const c = cli(['-r', repo, 'snapshots'], { RESTIC_PASSWORD: PASSWORD });
    // as restic: a warning naming the damaged file, the other snapshots listed, exit 0 (issue 18 item 4)
    expect(c.code).toBe(0);
    expect(c.stderr).toContain(path.basename(snap).slice(0, 8));
    expect(fingerprint(repo)).toBe(before);
  });

  it('a flipped byte in a pack fails that file with the pack named; the rest restores', async () => {
    const repo = copyRepo('bad-pack');
    const r0 = await Repository.open(new LocalBackend(repo), PASSWORD);
    await r0.loadIndex();
    // the data pack holding b.bin's blob (the larger blob)
    const dataPack = [...r0.index.allPacks()].find((p) => p.blobs.some((b) => b.type === 'data' && b.length > 50_000))!;
    const blob = dataPack.blobs.find((b) => b.length > 50_000)!;
    const file = path.join(repo, 'data', dataPack.id.slice(0, 2), dataPack.id);
    flipByte(file, blob.offset + 100);
    const before = fingerprint(repo);
    const out = path.join(tmp.dir, 'out-bad-pack');
    const c = cli(['-r', repo, 'restore', 'latest', '--target', out], { RESTIC_PASSWORD: PASSWORD });
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(dataPack.id);
    expect(c.stderr).toContain('b.bin');
    const restored = fs.readdirSync(out, { recursive: true }) as string[];
    expect(restored.some((p) => p.endsWith('a.txt'))).toBe(true);
    expect(fingerprint(repo)).toBe(before);
  });

  it('a truncated pack names the pack', async () => {
    const repo = copyRepo('truncated-pack');
    const r0 = await Repository.open(new LocalBackend(repo), PASSWORD);
    await r0.loadIndex();
    const dataPack = [...r0.index.allPacks()].find((p) => p.blobs.some((b) => b.type === 'data'))!;
    const file = path.join(repo, 'data', dataPack.id.slice(0, 2), dataPack.id);
    fs.chmodSync(file, 0o600);
    fs.truncateSync(file, 10);
    const r1 = await Repository.open(new LocalBackend(repo), PASSWORD);
    const b = dataPack.blobs.find((x) => x.type === 'data')!;
    const err = await r1.loadBlob('data', b.id).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(dataPack.id);
  });

  it('a truncated index file names the file', async () => {
    const repo = copyRepo('truncated-index');
    const idx = firstFile(path.join(repo, 'index'));
    fs.chmodSync(idx, 0o600);
    fs.truncateSync(idx, 20);
    const r = await Repository.open(new LocalBackend(repo), PASSWORD);
    const err = await r.loadIndex().catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(path.basename(idx));
  });
});
