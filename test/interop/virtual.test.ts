/**
 * Virtual-tree backups (entries from memory and streams, no files on disk) and
 * `backup --stdin`: restic restores them byte-identically.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, backupEntries } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'virtual';
const KDF = { N: 1024, r: 8, p: 1 };
const MiB = 1024 * 1024;
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

/** A 50 MiB SQL-dump-like stream produced piece by piece (never held whole). */
async function* dump(label: string, size: number, hash: crypto.Hash): AsyncGenerator<Uint8Array> {
  let off = 0;
  let i = 0;
  while (off < size) {
    const n = Math.min(1 << 20, size - off);
    const text = `INSERT INTO t VALUES (${i}, 'row');\n`.repeat(Math.ceil(n / 30)).slice(0, n);
    const piece = i % 3 === 0 ? Buffer.from(text) : pseudoRandom(`${label}:${i}`, n);
    hash.update(piece);
    yield piece;
    off += n;
    i++;
  }
}

describe('virtual tree API', () => {
  it('backs up a 50 MiB stream and in-memory entries without temp files; restic restores them identically', async () => {
    const repoPath = path.join(tmp.dir, 'repo');
    const repo = await Repository.init(new LocalBackend(repoPath), PASSWORD, { version: 2, kdf: KDF });
    // Anything that asks Node for a temp dir during the backup gets this empty one; it must stay empty.
    // (A private TMPDIR: other test files create entries in the shared /tmp meanwhile.)
    const privateTmp = path.join(tmp.dir, 'tmpdir');
    fs.mkdirSync(privateTmp);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    expect(os.tmpdir()).toBe(privateTmp);
    const h = crypto.createHash('sha256');
    const manifest = 'apiVersion: org.eclipse.che/v2\nkind: CheCluster\nmetadata:\n  name: eclipse-che\n';
    const result = await backupEntries(
      repo,
      [
        { path: 'che-cr.yaml', content: manifest, mtime: new Date('2026-01-02T03:04:05.678Z') },
        { path: 'configmaps/a.yaml', content: Buffer.from('a: 1\n'), mode: 0o600 },
        { path: 'db/che.sql', content: Readable.from(dump('db', 50 * MiB, h)) },
        { path: 'empty', content: '' },
        { path: 'link', type: 'symlink', linktarget: 'che-cr.yaml' },
      ],
      { root: '/backup/che', hostname: 'operator', tags: ['che'] },
    ).finally(() => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    });
    await repo.close();
    expect(fs.readdirSync(privateTmp)).toEqual([]);
    expect(result.files).toBe(4);
    expect(result.bytes).toBe(50 * MiB + manifest.length + 5);

    const out = path.join(tmp.dir, 'restored');
    resticOk(repoPath, PASSWORD, ['restore', result.snapshotId, '--target', out]);
    const base = path.join(out, 'backup/che');
    expect(fs.readFileSync(path.join(base, 'che-cr.yaml'), 'utf8')).toBe(manifest);
    expect(fs.statSync(path.join(base, 'che-cr.yaml')).mtime.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(fs.readFileSync(path.join(base, 'configmaps/a.yaml'), 'utf8')).toBe('a: 1\n');
    expect(fs.statSync(path.join(base, 'configmaps/a.yaml')).mode & 0o777).toBe(0o600);
    expect(
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(base, 'db/che.sql')))
        .digest('hex'),
    ).toBe(h.digest('hex'));
    expect(fs.statSync(path.join(base, 'empty')).size).toBe(0);
    expect(fs.readlinkSync(path.join(base, 'link'))).toBe('che-cr.yaml');
    const snaps = JSON.parse(resticOk(repoPath, PASSWORD, ['snapshots', '--json']));
    expect(snaps[0]).toMatchObject({ paths: ['/backup/che'], hostname: 'operator', tags: ['che'] });
    expect(resticOk(repoPath, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
  });

  it('backup --stdin --stdin-filename stores standard input as one file', () => {
    const repoPath = path.join(tmp.dir, 'stdin-repo');
    const env = { RESTIC_PASSWORD: PASSWORD };
    expect(cli(['-r', repoPath, 'init'], env).code).toBe(0);
    const data = pseudoRandom('stdin', 3 * MiB).toString('base64');
    const r = cli(['-r', repoPath, 'backup', '--stdin', '--stdin-filename', 'dump.sql', '--host', 'h'], env, data);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(resticOk(repoPath, PASSWORD, ['dump', 'latest', '/dump.sql'])).toBe(data);
    const snaps = JSON.parse(resticOk(repoPath, PASSWORD, ['snapshots', '--json']));
    expect(snaps[0].paths).toEqual(['/dump.sql']);
  });
});
