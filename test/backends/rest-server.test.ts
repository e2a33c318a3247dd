/**
 * Our REST server's protocol, authentication, hardening and shutdown, exercised with raw
 * HTTP requests (node:http keeps paths such as /../config as written) and with RestBackend.
 * Every server binds 127.0.0.1 on a free port and is stopped in afterAll.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestBackend } from '../../src/backends/rest.js';
import { BackendError, RetryBackend } from '../../src/backends/retry.js';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { RestServerError, startRestServer, type RestServer, type RestServerOptions } from '../../src/rest-server/server.js';
import { collect, expectBytes, randomFile } from '../helpers/backend-suite.js';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.js';
import { tempDir } from '../helpers/tmp.js';
import { selfSignedCert } from '../helpers/tls.js';

const tmp = tempDir('restic-ts-rest-srv-');
const servers: RestServer[] = [];
let htpasswdFile: string;

const USERS = { alice: 'wonderland', bob: 'builder', metrics: 'prom' };

beforeAll(async () => {
  // alice and metrics with bcrypt (cost 4 keeps the test fast), bob with {SHA}
  const lines = [
    `alice:${await bcryptHash(USERS.alice, randomBytes(16), 4, '2y')}`,
    `bob:{SHA}${createHash('sha1').update(USERS.bob).digest('base64')}`,
    `metrics:${await bcryptHash(USERS.metrics, randomBytes(16), 4)}`,
  ];
  htpasswdFile = path.join(tmp.dir, 'htpasswd');
  fs.writeFileSync(htpasswdFile, lines.join('\n') + '\n');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  tmp.cleanup();
});

let dirs = 0;
async function start(opts: Partial<RestServerOptions> = {}): Promise<RestServer & { dataDir: string }> {
  const dataDir = path.join(tmp.dir, `data${dirs++}`);
  const s = await startRestServer({ path: dataDir, listen: '127.0.0.1:0', htpasswdFile, ...opts });
  servers.push(s);
  return Object.assign(s, { dataDir });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function basic(user: keyof typeof USERS | string, pw?: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pw ?? USERS[user as keyof typeof USERS]}`).toString('base64');
}

/** One raw request; the path is sent exactly as given. */
function raw(
  s: RestServer,
  method: string,
  p: string,
  opts: { headers?: Record<string, string>; body?: Uint8Array; user?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.user) headers.authorization = basic(opts.user);
    if (opts.body && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined)
      headers['content-length'] = String(opts.body.length);
    const req = http.request({ host: '127.0.0.1', port: s.port, method, path: p, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('startup', () => {
  it('refuses to start without an htpasswd file unless --no-auth is given', async () => {
    const err = await startRestServer({ path: path.join(tmp.dir, 'noauth'), listen: '127.0.0.1:0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestServerError);
    expect((err as Error).message).toMatch(/htpasswd.*--no-auth/);
    const s = await start({ noAuth: true, htpasswdFile: undefined });
    expect((await raw(s, 'POST', '/?create=true')).status).toBe(200);
  });

  it('defaults to listening on 127.0.0.1 and rejects bad listen addresses', async () => {
    const s = await start({ listen: '127.0.0.1:0' });
    expect(s.url).toBe(`http://127.0.0.1:${s.port}/`);
    await expect(start({ listen: 'nonsense' })).rejects.toThrow(/invalid listen address/);
  });
});

describe('authentication', () => {
  let s: RestServer;
  beforeAll(async () => {
    s = await start();
  });

  it('answers 401 without credentials or with a wrong password', async () => {
    expect((await raw(s, 'HEAD', '/config')).status).toBe(401);
    expect((await raw(s, 'GET', '/keys/')).status).toBe(401);
    expect((await raw(s, 'HEAD', '/config', { headers: { authorization: basic('alice', 'nope') } })).status).toBe(401);
    expect((await raw(s, 'HEAD', '/config', { headers: { authorization: basic('mallory', 'x') } })).status).toBe(401);
  });

  it('accepts bcrypt and {SHA} users', async () => {
    expect((await raw(s, 'POST', '/alice/?create=true', { user: 'alice' })).status).toBe(200);
    expect((await raw(s, 'HEAD', '/alice/config', { user: 'alice' })).status).toBe(404);
    expect((await raw(s, 'HEAD', '/alice/config', { user: 'bob' })).status).toBe(404);
  });
});

describe('protocol', () => {
  let s: RestServer & { dataDir: string };
  beforeAll(async () => {
    s = await start();
    expect((await raw(s, 'POST', '/repo/?create=true', { user: 'bob' })).status).toBe(200);
  });

  it('POST without ?create=true is 400; the layout has data/00..ff', async () => {
    expect((await raw(s, 'POST', '/other/', { user: 'bob' })).status).toBe(400);
    const repo = path.join(s.dataDir, 'repo');
    for (const d of ['data', 'index', 'keys', 'locks', 'snapshots', 'data/00', 'data/ff'])
      expect(fs.statSync(path.join(repo, d)).isDirectory()).toBe(true);
  });

  it('stores a verified upload in data/XX/<id>, refuses to overwrite it, serves ranges', async () => {
    const body = randomBytes(5000);
    const id = sha(body);
    expect((await raw(s, 'POST', `/repo/data/${id}`, { user: 'bob', body })).status).toBe(200);
    expect(fs.readFileSync(path.join(s.dataDir, 'repo', 'data', id.slice(0, 2), id)).equals(body)).toBe(true);
    expect((await raw(s, 'POST', `/repo/data/${id}`, { user: 'bob', body })).status).toBe(403);

    const head = await raw(s, 'HEAD', `/repo/data/${id}`, { user: 'bob' });
    expect([head.status, head.headers['content-length']]).toEqual([200, '5000']);
    const full = await raw(s, 'GET', `/repo/data/${id}`, { user: 'bob' });
    expect(full.status).toBe(200);
    expect(full.body.equals(body)).toBe(true);
    const part = await raw(s, 'GET', `/repo/data/${id}`, { user: 'bob', headers: { range: 'bytes=100-199' } });
    expect([part.status, part.headers['content-range']]).toEqual([206, 'bytes 100-199/5000']);
    expect(part.body.equals(body.subarray(100, 200))).toBe(true);
    const tail = await raw(s, 'GET', `/repo/data/${id}`, { user: 'bob', headers: { range: 'bytes=4990-' } });
    expect(tail.body.equals(body.subarray(4990))).toBe(true);
    const suffix = await raw(s, 'GET', `/repo/data/${id}`, { user: 'bob', headers: { range: 'bytes=-10' } });
    expect(suffix.body.equals(body.subarray(4990))).toBe(true);
    const beyond = await raw(s, 'GET', `/repo/data/${id}`, { user: 'bob', headers: { range: 'bytes=5000-' } });
    expect([beyond.status, beyond.headers['content-range']]).toEqual([416, 'bytes */5000']);
  });

  it('rejects an upload whose bytes do not hash to its name, and stores nothing', async () => {
    const body = randomBytes(1000);
    const wrong = sha(randomBytes(8));
    const before = walk(s.dataDir);
    const r = await raw(s, 'POST', `/repo/snapshots/${wrong}`, { user: 'bob', body });
    expect(r.status).toBe(400);
    expect(r.body.toString()).toMatch(/does not match/);
    expect(walk(s.dataDir)).toEqual(before); // no file, no temp file
    expect((await raw(s, 'HEAD', `/repo/snapshots/${wrong}`, { user: 'bob' })).status).toBe(404);
  });

  it('requires a Content-Length and bounds bodies', async () => {
    const small = await start({ maxUploadSize: 1024 });
    expect((await raw(small, 'POST', '/r/?create=true', { user: 'bob' })).status).toBe(200);
    const big = randomBytes(2048);
    expect((await raw(small, 'POST', `/r/data/${sha(big)}`, { user: 'bob', body: big })).status).toBe(413);
    const body = randomBytes(10);
    const chunked = await raw(small, 'POST', `/r/keys/${sha(body)}`, { user: 'bob', body, headers: { 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(411);
    expect(walk(path.join(small.dataDir, 'r')).length).toBe(0);
  });

  it('validates paths: traversal, hidden folders, bad names and unknown types are 400', async () => {
    const id = sha(randomBytes(4));
    const bad = [
      '/../config',
      '/%2e%2e/config',
      '/repo/../../config',
      '/.hidden/config',
      '/repo/data/xyz',
      `/repo/data/${id.toUpperCase()}`,
      `/repo/data/${id}0`,
      `/repo/data/..%2f..%2f${id}`,
      `/repo/tmp/${id}`,
      '/a/b/c/config', // more than two folder levels
      '/repo/%zz/config',
    ];
    for (const p of bad) {
      const r = await raw(s, 'GET', p, { user: 'bob' });
      expect([p, r.status]).toEqual([p, 400]);
    }
    const post = await raw(s, 'POST', '/repo/../x/?create=true', { user: 'bob' });
    expect(post.status).toBe(400);
    expect(fs.existsSync(path.join(tmp.dir, 'x'))).toBe(false);
  });

  it('answers 405 with Allow for wrong methods, 404 for missing objects', async () => {
    const r = await raw(s, 'PUT', '/repo/config', { user: 'bob', body: Buffer.from('x') });
    expect([r.status, r.headers.allow]).toEqual([405, 'HEAD, GET, POST, DELETE']);
    expect((await raw(s, 'DELETE', '/repo/keys/', { user: 'bob' })).status).toBe(405);
    expect((await raw(s, 'GET', `/repo/index/${sha(Buffer.from('none'))}`, { user: 'bob' })).status).toBe(404);
    expect((await raw(s, 'GET', '/nothere/keys/', { user: 'bob' })).status).toBe(404);
  });

  it('lists with v2 (names and sizes) for the v2 Accept header and v1 otherwise', async () => {
    const body = randomBytes(77);
    await raw(s, 'POST', `/repo/index/${sha(body)}`, { user: 'bob', body });
    const v2 = await raw(s, 'GET', '/repo/index/', { user: 'bob', headers: { accept: 'application/vnd.x.restic.rest.v2' } });
    expect(v2.headers['content-type']).toBe('application/vnd.x.restic.rest.v2');
    expect(JSON.parse(v2.body.toString())).toEqual([{ name: sha(body), size: 77 }]);
    const v1 = await raw(s, 'GET', '/repo/index/', { user: 'bob' });
    expect(v1.headers['content-type']).toBe('application/vnd.x.restic.rest.v1');
    expect(JSON.parse(v1.body.toString())).toEqual([sha(body)]);
  });

  it('config: written once (403 after), deletable when not append-only', async () => {
    const cfg = Buffer.from('config bytes');
    expect((await raw(s, 'POST', '/repo/config', { user: 'bob', body: cfg })).status).toBe(200);
    expect((await raw(s, 'POST', '/repo/config', { user: 'bob', body: Buffer.from('other') })).status).toBe(403);
    expect((await raw(s, 'GET', '/repo/config', { user: 'bob' })).body.equals(cfg)).toBe(true);
    expect((await raw(s, 'DELETE', '/repo/config', { user: 'bob' })).status).toBe(200);
    expect((await raw(s, 'DELETE', '/repo/config', { user: 'bob' })).status).toBe(200); // idempotent
  });
});

describe('append-only', () => {
  it('refuses DELETE (except locks) and overwrites, allows new files', async () => {
    const s = await start({ appendOnly: true });
    const be = new RestBackend(s.url.replace('://', '://alice:wonderland@') + 'ao/');
    await be.create();
    const files = Object.fromEntries((['pack', 'index', 'snapshot', 'key', 'lock'] as const).map((t) => [t, randomFile(300)]));
    for (const [type, f] of Object.entries(files)) await be.save({ type: type as 'pack', name: f.name }, f.data);
    await be.save({ type: 'config', name: 'config' }, Buffer.from('cfg'));

    for (const type of ['pack', 'index', 'snapshot', 'key'] as const) {
      await expect(be.remove({ type, name: files[type]!.name })).rejects.toThrow(/refused the deletion.*403/);
      expectBytes(await be.load({ type, name: files[type]!.name }), files[type]!.data);
    }
    await expect(be.remove({ type: 'config', name: 'config' })).rejects.toThrow(/403/);
    await be.remove({ type: 'lock', name: files.lock!.name });
    expect(await collect(be.list('lock'))).toEqual([]);

    // overwrite with other content: refused, original intact
    for (const [type, dir] of [
      ['data', 'pack'],
      ['index', 'index'],
      ['snapshots', 'snapshot'],
    ] as const) {
      const name = files[dir]!.name;
      const r = await raw(s, 'POST', `/ao/${type}/${name}`, { user: 'alice', body: randomBytes(300) });
      expect(r.status).toBe(403);
      expectBytes(await be.load({ type: dir, name }), files[dir]!.data);
    }
    await be.close();
  });
});

describe('private repositories', () => {
  it('keeps users apart', async () => {
    const s = await start({ privateRepos: true });
    const alice = new RestBackend(s.url.replace('://', '://alice:wonderland@') + 'alice/work/');
    await alice.create();
    const f = randomFile(100);
    await alice.save({ type: 'snapshot', name: f.name }, f.data);
    await alice.close();
    // bob cannot read, list, write or create under alice/, nor at the root
    for (const [m, p] of [
      ['GET', `/alice/work/snapshots/${f.name}`],
      ['GET', '/alice/work/snapshots/'],
      ['DELETE', `/alice/work/snapshots/${f.name}`],
      ['POST', '/alice/evil/?create=true'],
      ['POST', '/?create=true'],
    ] as const) {
      expect([m, p, (await raw(s, m, p, { user: 'bob' })).status]).toEqual([m, p, 401]);
    }
    // bob has his own
    const bob = new RestBackend(s.url.replace('://', '://bob:builder@') + 'bob/');
    await bob.create();
    expect(await collect(bob.list('snapshot'))).toEqual([]);
    await bob.close();
    const again = new RestBackend(s.url.replace('://', '://alice:wonderland@') + 'alice/work/');
    expect(await collect(again.list('snapshot'))).toEqual([{ name: f.name, size: 100 }]);
    await again.close();
  });
});

describe('quota and metrics', () => {
  it('answers 507 above --max-size and counts blobs like rest-server', async () => {
    const s = await start({ maxSize: 10_000, prometheus: true });
    const be = new RetryBackend(new RestBackend(s.url.replace('://', '://alice:wonderland@') + 'q/'), { retries: 2, baseDelayMs: 1 });
    await be.create();
    const a = randomFile(6000);
    await be.save({ type: 'pack', name: a.name }, a.data);
    const b = randomFile(6000);
    const err = await be.save({ type: 'pack', name: b.name }, b.data).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/out of space or over its quota.*507/);
    await be.load({ type: 'pack', name: a.name });
    await be.remove({ type: 'pack', name: a.name });
    await be.save({ type: 'pack', name: b.name }, b.data); // space was freed
    await be.close();

    expect((await raw(s, 'GET', '/metrics')).status).toBe(401);
    const m = await raw(s, 'GET', '/metrics', { user: 'alice' });
    expect(m.status).toBe(200);
    const text = m.body.toString();
    expect(text).toContain('rest_server_blob_write_total{repo="q",type="data",user="alice"} 2');
    expect(text).toContain('rest_server_blob_write_bytes_total{repo="q",type="data",user="alice"} 12000');
    expect(text).toContain('rest_server_blob_read_total{repo="q",type="data",user="alice"} 1');
    expect(text).toContain('rest_server_blob_read_bytes_total{repo="q",type="data",user="alice"} 6000');
    expect(text).toContain('rest_server_blob_delete_total{repo="q",type="data",user="alice"} 1');
    expect(text).toContain('# TYPE rest_server_blob_delete_bytes_total counter');
  });
});

describe('TLS', () => {
  const certDir = path.join(tmp.dir, 'tls');

  it('serves HTTPS with a self-signed certificate, trusted through --cacert', async () => {
    fs.mkdirSync(certDir, { recursive: true });
    const r = selfSignedCert(path.join(certDir, 'key.pem'), path.join(certDir, 'cert.pem'));
    expect(r.status, r.stderr).toBe(0);
    const s = await start({ tls: true, tlsCert: path.join(certDir, 'cert.pem'), tlsKey: path.join(certDir, 'key.pem') });
    expect(s.url).toMatch(/^https:/);
    const loc = `rest:${s.url.replace('://', '://alice:wonderland@')}tlsrepo/`;

    const untrusted = RestBackend.fromLocation(loc, { env: {} });
    const err = await untrusted.create().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/TLS certificate .* is not trusted.*--cacert/);
    await untrusted.close();

    const trusted = RestBackend.fromLocation(loc, { env: {}, cacert: [path.join(certDir, 'cert.pem')] });
    await trusted.create();
    const f = randomFile(1000);
    await trusted.save({ type: 'key', name: f.name }, f.data);
    await trusted.close();

    const insecure = RestBackend.fromLocation(loc, { env: {}, insecureTls: true });
    expectBytes(await insecure.load({ type: 'key', name: f.name }), f.data);
    await insecure.close();
  });
});

describe('shutdown', () => {
  it('close() waits for a request in flight and then stops listening', async () => {
    const s = await start();
    expect((await raw(s, 'POST', '/r/?create=true', { user: 'bob' })).status).toBe(200);
    const body = randomBytes(100_000);
    const id = sha(body);
    const reply = new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: s.port,
          method: 'POST',
          path: `/r/data/${id}`,
          headers: { authorization: basic('bob'), 'content-length': String(body.length) },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 50_000));
      // the rest is sent only once close() has started
      setTimeout(() => {
        closing = s.close();
        setTimeout(() => req.end(body.subarray(50_000)), 50);
      }, 50);
    });
    let closing: Promise<void> | undefined;
    expect(await reply).toBe(200);
    await closing;
    expect(fs.readFileSync(path.join(s.dataDir, 'r', 'data', id.slice(0, 2), id)).equals(body)).toBe(true);
    await expect(raw(s, 'HEAD', '/r/config', { user: 'bob' })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('retries through the fault proxy', () => {
  it('RestBackend + RetryBackend survive resets, 500s, truncated answers and stalls', async () => {
    const s = await start({ noVerifyUpload: false });
    const plan: Record<number, Fault> = {
      1: { kind: 'http500' },
      3: { kind: 'reset' },
      5: { kind: 'truncate', afterBytes: 40 },
      7: { kind: 'stall' },
      8: { kind: 'http500' },
      10: { kind: 'truncate', afterBytes: 300 },
    };
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: s.port }, onRequest: ({ request }) => plan[request] });
    try {
      const be = new RetryBackend(
        new RestBackend(proxy.url.replace('://', '://bob:builder@') + 'faulty/', { timeoutMs: 1000, connections: 1 }),
        {
          baseDelayMs: 5,
          maxDelayMs: 20,
        },
      );
      await be.create();
      const files = Array.from({ length: 6 }, () => randomFile(2000));
      for (const f of files) await be.save({ type: 'index', name: f.name }, f.data);
      for (const f of files) expectBytes(await be.load({ type: 'index', name: f.name }), f.data);
      expect((await collect(be.list('index'))).length).toBe(6);
      await be.close();
      expect(proxy.injected.length).toBe(Object.keys(plan).length);
    } finally {
      await proxy.close();
    }
  });

  it('backs off exponentially up to the cap on 5xx; 401, 403 and other 4xx are not retried', async () => {
    const s = await start({ appendOnly: true });
    let failFirst = 5;
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: s.port },
      onRequest: ({ method }) => (method === 'POST' && failFirst-- > 0 ? { kind: 'http500' } : undefined),
    });
    try {
      const delays: number[] = [];
      const opts = { retries: 6, baseDelayMs: 8, maxDelayMs: 32, onRetry: ({ delayMs }: { delayMs: number }) => void delays.push(delayMs) };
      const be = new RetryBackend(new RestBackend(proxy.url.replace('://', '://bob:builder@') + 'backoff/'), opts);
      await be.create(); // HEAD config passes, POST ?create=true fails 5 times, then succeeds
      // 8, 16, 32, 32, 32 ms with ±25 % jitter
      expect(delays).toHaveLength(5);
      [8, 16, 32, 32, 32].forEach((d, i) => {
        expect(delays[i]).toBeGreaterThanOrEqual(d * 0.75);
        expect(delays[i]).toBeLessThanOrEqual(d * 1.25);
      });

      delays.length = 0;
      const before = proxy.counts.requests;
      const f = randomFile(50);
      await be.save({ type: 'snapshot', name: f.name }, f.data);
      await expect(be.remove({ type: 'snapshot', name: f.name })).rejects.toThrow(/remove snapshot file .*403/); // append-only
      await expect(be.load({ type: 'index', name: f.name })).rejects.toThrow(/does not exist/); // 404
      const wrong = new RetryBackend(new RestBackend(proxy.url.replace('://', '://bob:wrong@') + 'backoff/'), opts);
      await expect(wrong.stat({ type: 'config', name: 'config' })).rejects.toThrow(/authentication failed/); // 401
      await wrong.close();
      expect(delays).toEqual([]);
      expect(proxy.counts.requests - before).toBe(4); // one request each: nothing was repeated
      await be.close();
    } finally {
      await proxy.close();
    }
  });

  it('gives up with an error naming the operation and the file', async () => {
    const s = await start();
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: s.port }, onRequest: () => ({ kind: 'http500' }) });
    try {
      const be = new RetryBackend(new RestBackend(proxy.url.replace('://', '://bob:builder@') + 'x/'), { retries: 2, baseDelayMs: 1 });
      const f = randomFile(10);
      const err = await be.save({ type: 'snapshot', name: f.name }, f.data).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toBe(
        `save snapshot ${f.name} failed after 3 attempts: save snapshot file ${f.name}: server answered HTTP 500 Internal Server Error`,
      );
      await be.close();
    } finally {
      await proxy.close();
    }
  });
});
