/**
 * S3 backend against a real Ceph radosgw (mon + memstore OSD + rgw) started for this file:
 * backend conformance, our CLI round trip, restic 0.14 ↔ restic-ts on the same bucket,
 * a listing of more than 1,000 objects, and the one-line errors users can cause.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocation } from '../../src/backends/location.js';
import { S3Backend, type S3BackendOptions } from '../../src/backends/s3.js';
import { NotFoundError, Repository, RepositoryNotFoundError } from '../../src/index.js';
import { startCeph, type CephCluster } from '../helpers/ceph.js';
import { cli } from '../helpers/cli.js';
import { collect, randomFile, runBackendSuite } from '../helpers/backend-suite.js';
import { diffTrees, generateTree } from '../helpers/gentree.js';
import { resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'correct horse battery staple';
let ceph: CephCluster;
let tmp: ReturnType<typeof tempDir>;
let src: string;
let bucketSeq = 0;

/** A fresh, valid bucket name (Ceph checks names strictly: lower case, digits, '-'). */
function bucketName(tag: string): string {
  return `${tag}-${++bucketSeq}-${randomBytes(4).toString('hex')}`;
}

function backend(bucket: string, extra: Partial<S3BackendOptions> = {}): S3Backend {
  return new S3Backend({
    endpoint: ceph.endpoint,
    bucket,
    credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    ...extra,
  });
}

beforeAll(async () => {
  tmp = tempDir('restic-ts-s3-');
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 6 * 1024 * 1024 });
  ceph = await startCeph();
}, 180_000);

afterAll(async () => {
  await ceph?.stop();
  tmp?.cleanup();
});

// A bucket per test; create() is left to the suite (it makes the bucket, as restic does).
// First as the CLI opens it (location + environment, wrapped in RetryBackend), then bare.
runBackendSuite('s3 location on Ceph radosgw', () => openLocation(`s3:${ceph.endpoint}/${bucketName('suite')}`, { env: ceph.env }));
runBackendSuite('S3Backend on Ceph radosgw, under a prefix', () => backend(bucketName('prefixed'), { prefix: 'some/prefix' }), {
  largeSize: 4 * 1024 * 1024,
});

describe('S3 backend on Ceph', () => {
  it('stores objects in restic default layout under the prefix, without marker objects', async () => {
    const bucket = bucketName('layout');
    const be = backend(bucket, { prefix: 'p/q' });
    await be.create();
    const f = randomFile(10);
    await be.save({ type: 'pack', name: f.name }, f.data);
    await be.save({ type: 'key', name: f.name }, f.data);
    await be.save({ type: 'config', name: '' }, f.data);
    const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      endpoint: ceph.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    client.destroy();
    expect((res.Contents ?? []).map((o) => o.Key).sort()).toEqual([
      `p/q/config`,
      `p/q/data/${f.name.slice(0, 2)}/${f.name}`,
      `p/q/keys/${f.name}`,
    ]);
    await be.close();
  });

  it('lists more than 1,000 objects (paginated ListObjectsV2)', async () => {
    const be = backend(bucketName('many'), { prefix: 'many', connections: 16 });
    await be.create();
    const files = Array.from({ length: 1200 }, (_, i) => randomFile(16 + (i % 7))); // ≥ 16 random bytes: unique names
    await Promise.all(files.map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
    // Noise that must not show up: another type and a non-ID name.
    await be.save({ type: 'index', name: files[0]!.name }, new Uint8Array(1));
    await be.save({ type: 'pack', name: 'not-an-id' }, new Uint8Array(1));
    const listed = await collect(be.list('pack'));
    expect(listed).toHaveLength(1200);
    const want = files.map((f) => ({ name: f.name, size: f.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(listed).toEqual(want);
    expect(await collect(be.list('index'))).toEqual([{ name: files[0]!.name, size: 1 }]);
    await be.close();
  });

  it('a SHA-256 the caller passes is the signed payload hash: bytes that do not match it are refused and not stored', async () => {
    const be = backend(bucketName('sha'));
    await be.create();
    const data = randomBytes(100_000);
    const name = createHash('sha256').update(data).digest('hex');
    await be.save({ type: 'pack', name }, data, { sha256: name });
    expect(Buffer.from(await be.load({ type: 'pack', name })).equals(data)).toBe(true);
    const other = createHash('sha256').update('other bytes').digest('hex');
    await expect(be.save({ type: 'pack', name: other }, data, { sha256: other })).rejects.toThrow(/saving/);
    await expect(be.stat({ type: 'pack', name: other })).rejects.toBeInstanceOf(NotFoundError);
    // without one, the SDK hashes the bytes: any name
    await be.save({ type: 'pack', name: other }, data);
    expect(Buffer.from(await be.load({ type: 'pack', name: other })).equals(data)).toBe(true);
    await be.close();
  });

  it('a missing bucket: load/stat give NotFoundError, list is empty, open is RepositoryNotFoundError', async () => {
    const be = backend(bucketName('absent'));
    await expect(be.load({ type: 'config', name: '' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(be.stat({ type: 'config', name: '' })).rejects.toBeInstanceOf(NotFoundError);
    expect(await collect(be.list('snapshot'))).toEqual([]);
    const err = await Repository.open(be, PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepositoryNotFoundError);
    expect((err as RepositoryNotFoundError).exitCode).toBe(10);
    await be.close();
  });
});

describe('CLI on S3', () => {
  const env = () => ({ ...ceph.env, RESTIC_PASSWORD: PASSWORD });
  const repoUrl = (bucket: string, prefix = '') => `s3:${ceph.endpoint}/${bucket}${prefix ? `/${prefix}` : ''}`;

  it('round trip: init, backup, snapshots, restore identical', () => {
    const repo = repoUrl(bucketName('roundtrip'));
    let r = cli(['-r', repo, 'init'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`created restic repository`);
    r = cli(['-r', repo, 'backup', '--host', 'ours', src], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);
    r = cli(['-r', repo, 'snapshots', '--json'], env());
    expect(r.code).toBe(0);
    const snaps = JSON.parse(r.stdout);
    expect(snaps).toHaveLength(1);
    expect(snaps[0].hostname).toBe('ours');
    const target = path.join(tmp.dir, 'restore-roundtrip');
    r = cli(['-r', repo, 'restore', 'latest', '--target', target], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);
  });

  it('restic-ts writes (under a prefix), restic 0.14 checks and restores identically', () => {
    const repo = repoUrl(bucketName('ours'), 'backups/host1');
    let r = cli(['-r', repo, 'init'], env());
    expect(r.code).toBe(0);
    r = cli(['-r', repo, 'backup', '--host', 'ours', src], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'], ceph.env)).toMatch(/no errors were found/);
    const target = path.join(tmp.dir, 'restore-by-restic');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', target], ceph.env);
    expect(diffTrees(src, path.join(target, src))).toEqual([]);
  });

  it('restic 0.14 writes, restic-ts lists and restores identically', () => {
    const repo = repoUrl(bucketName('restic'));
    resticOk(repo, PASSWORD, ['init'], ceph.env);
    resticOk(repo, PASSWORD, ['backup', '--host', 'resticd', src], ceph.env);
    let r = cli(['-r', repo, 'snapshots', '--json'], env());
    expect(r.code).toBe(0);
    const snaps = JSON.parse(r.stdout);
    expect(snaps).toHaveLength(1);
    expect(snaps[0].hostname).toBe('resticd');
    const target = path.join(tmp.dir, 'restore-restic-repo');
    r = cli(['-r', repo, 'restore', 'latest', '--target', target], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);
  });

  describe('errors users can cause', () => {
    let repo: string;
    beforeAll(() => {
      repo = repoUrl(bucketName('errors'));
      const r = cli(['-r', repo, 'init'], env());
      expect(r.code).toBe(0);
    });

    function expectOneLine(stderr: string, re: RegExp): void {
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^Fatal: /);
      expect(lines[0]).toMatch(re);
      expect(stderr).not.toMatch(/\n\s+at /);
    }

    it('wrong secret key: one line, exit code 1', () => {
      const r = cli(['-r', repo, 'snapshots'], { ...env(), AWS_SECRET_ACCESS_KEY: 'WRONGSECRET' });
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, /access denied.*SignatureDoesNotMatch/);
    });

    it('unknown access key: one line, exit code 1 (also for init)', () => {
      let r = cli(['-r', repo, 'snapshots'], { ...env(), AWS_ACCESS_KEY_ID: 'NOSUCHKEY' });
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, /access denied.*InvalidAccessKeyId/);
      r = cli(['-r', repoUrl(bucketName('denied')), 'init'], { ...env(), AWS_ACCESS_KEY_ID: 'NOSUCHKEY' });
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, /access denied/);
    });

    it('missing bucket: "repository does not exist", exit code 10', () => {
      const r = cli(['-r', repoUrl(bucketName('missing')), 'snapshots'], env());
      expect(r.code).toBe(10);
      expectOneLine(r.stderr, /repository does not exist/);
    });

    it('unreachable endpoint: one line, exit code 1', async () => {
      const port = await closedPort();
      const r = cli(['-r', `s3:http://127.0.0.1:${port}/bucket`, 'snapshots'], env());
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    });

    it('bad -o s3.* options are usage errors', () => {
      let r = cli(['-r', repo, '-o', 's3.bucket-lookup=sideways', 'snapshots'], env());
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, /bucket-lookup/);
      r = cli(['-r', repo, '-o', 's3.nonsense=1', 'snapshots'], env());
      expect(r.code).toBe(1);
      expectOneLine(r.stderr, /s3\.nonsense/);
    });
  });
});

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
