/**
 * Backups through a TCP fault proxy (test/helpers/fault-proxy.ts) that resets connections,
 * answers 500, truncates answers and stalls at chosen requests — between restic-ts and our
 * REST server, and between restic-ts and a real Ceph radosgw (S3). A backup either completes
 * through retries or fails with a one-line error naming the operation and file; either way
 * restic 0.14's `check --read-data` passes afterwards and the earlier snapshot is still there.
 *
 * Servers and the proxy run in this process, so the CLI and restic run as asynchronous
 * children (helpers/spawn-async.ts). Everything listens on 127.0.0.1 and is stopped.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { startRestServer, type RestServer } from '../../src/rest-server/server.js';
import { startCeph, type CephCluster } from '../helpers/ceph.js';
import { startFaultProxy, type Fault, type FaultProxy, type RequestInfo } from '../helpers/fault-proxy.js';
import { generateTree } from '../helpers/gentree.js';
import { cliAsync, resticAsync, type AsyncResult } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'fault tolerant';
const tmp = tempDir('restic-ts-faults-');
let src: string;
let more: string;
const proxies: FaultProxy[] = [];

/** A fault for the nth request (1-based) matching method and path, or for every match. */
interface Rule {
  method: string;
  path: RegExp;
  nth?: number;
  every?: boolean;
  fault: Fault;
}

function planner(rules: Rule[]): (info: RequestInfo) => Fault | undefined {
  const seen = rules.map(() => 0);
  return ({ method, path: p }) => {
    let hit: Fault | undefined;
    rules.forEach((r, i) => {
      if (r.method !== method || !r.path.test(p)) return;
      seen[i]!++;
      if (!hit && (r.every || seen[i] === (r.nth ?? 1))) hit = r.fault;
    });
    return hit;
  };
}

async function proxy(port: number, rules: Rule[]): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: { host: '127.0.0.1', port }, onRequest: planner(rules), lifetimeMs: 600_000 });
  proxies.push(p);
  return p;
}

function ok(r: AsyncResult, what: string): string {
  expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

function expectOneLineError(r: AsyncResult, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Fatal: /);
  expect(lines[0]).toMatch(re);
}

const kinds = (p: FaultProxy) => [...new Set(p.injected.map((i) => i.fault.kind))].sort();

beforeAll(() => {
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 3 * 1024 * 1024 });
  more = path.join(tmp.dir, 'more');
  fs.mkdirSync(more);
  // several packs' worth of new, incompressible data for the faulty backup
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(more, `new${i}.bin`), randomBytes(1536 * 1024));
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  tmp.cleanup();
});

/**
 * The shared scenario: snapshot 1 straight to the server, snapshot 2 through a faulty proxy
 * (must complete), snapshot 3 through a proxy that refuses every pack upload (must fail with
 * one line), then restic checks all data and still sees snapshots 1 and 2.
 */
async function scenario(o: {
  direct: string;
  viaProxy: (p: FaultProxy) => string;
  port: number;
  env: Record<string, string>;
  transientFaults: Rule[];
  refuse: Rule;
  /** -o options for the proxied backups (timeouts, retries). */
  options: string[];
  expectFinal: RegExp;
}): Promise<void> {
  const env = { RESTIC_PASSWORD: PASSWORD, ...o.env };
  ok(await cliAsync(['-r', o.direct, 'init'], env), 'init');
  const first = /snapshot ([0-9a-f]{8}) saved/.exec(
    ok(await cliAsync(['-r', o.direct, 'backup', '--host', 'h1', src], env), 'backup 1'),
  )![1]!;

  // 2: through resets, 500s, truncated answers and stalls → completes via retries
  const faulty = await proxy(o.port, o.transientFaults);
  const r2 = await cliAsync(['-r', o.viaProxy(faulty), ...o.options, 'backup', '--host', 'h2', src, more], env);
  ok(r2, 'backup through faults');
  expect(r2.stderr).not.toMatch(/WARN|@smithy|\n\s+at /); // no SDK chatter, no stack traces
  expect(kinds(faulty)).toEqual([...new Set(o.transientFaults.map((r) => r.fault.kind))].sort());
  expect(faulty.injected.length).toBe(o.transientFaults.length);
  await faulty.close();

  // 3: every pack upload refused → a one-line error naming the operation and the file
  fs.writeFileSync(path.join(more, 'another.bin'), randomBytes(512 * 1024));
  const refusing = await proxy(o.port, [o.refuse]);
  const r3 = await cliAsync(['-r', o.viaProxy(refusing), ...o.options, 'backup', '--host', 'h3', src, more], env);
  expectOneLineError(r3, o.expectFinal);
  expect(r3.stderr).not.toMatch(/\n\s+at /);
  await refusing.close();

  // restic 0.14, straight to the server: all data readable, snapshots 1 and 2 there, 3 not
  const check = ok(await resticAsync(o.direct, PASSWORD, ['check', '--read-data'], o.env), 'restic check');
  expect(check).toMatch(/no errors were found/);
  const snaps = JSON.parse(ok(await resticAsync(o.direct, PASSWORD, ['snapshots', '--json'], o.env), 'restic snapshots')) as Array<{
    short_id: string;
    hostname: string;
  }>;
  expect(snaps.map((s) => s.hostname).sort()).toEqual(['h1', 'h2']);
  expect(snaps.map((s) => s.short_id)).toContain(first);
}

describe('REST: restic-ts → fault proxy → our REST server', () => {
  let server: RestServer;
  let htpasswd: string;
  const cred = 'bob:faulty';

  beforeAll(async () => {
    htpasswd = path.join(tmp.dir, 'htpasswd');
    fs.writeFileSync(htpasswd, `bob:${await bcryptHash('faulty', randomBytes(16), 4)}\n`);
    server = await startRestServer({ path: path.join(tmp.dir, 'rest'), listen: '127.0.0.1:0', htpasswdFile: htpasswd });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('completes through faults via retries, fails cleanly when refused, and restic check --read-data passes', async () => {
    const url = (base: string) => `rest:${base.replace('://', `://${cred}@`)}repo/`;
    await scenario({
      direct: url(server.url),
      viaProxy: (p) => url(p.url),
      port: server.port,
      env: {},
      transientFaults: [
        { method: 'GET', path: /\/keys\/$/, fault: { kind: 'truncate', afterBytes: 40 } }, // listing cut short
        { method: 'GET', path: /\/keys\/[0-9a-f]{64}$/, fault: { kind: 'stall' } }, // key load hangs → timeout
        { method: 'POST', path: /\/locks\/[0-9a-f]{64}$/, fault: { kind: 'http500' } },
        // the pack arrives, but the answer is lost: the retry finds it stored (403 + same size)
        { method: 'POST', path: /\/data\/[0-9a-f]{64}$/, fault: { kind: 'truncate', afterBytes: 0 } },
        { method: 'POST', path: /\/data\/[0-9a-f]{64}$/, nth: 2, fault: { kind: 'reset' } },
        { method: 'POST', path: /\/data\/[0-9a-f]{64}$/, nth: 3, fault: { kind: 'http500' } },
        { method: 'POST', path: /\/index\/[0-9a-f]{64}$/, fault: { kind: 'reset' } },
        { method: 'POST', path: /\/snapshots\/[0-9a-f]{64}$/, fault: { kind: 'truncate', afterBytes: 0 } },
      ],
      refuse: { method: 'POST', path: /\/data\/[0-9a-f]{64}$/, every: true, fault: { kind: 'http500' } },
      options: ['-o', 'rest.timeout=2s', '-o', 'rest.retries=3'],
      expectFinal: /save pack [0-9a-f]{64} failed after 4 attempts: .*HTTP 500/,
    });
  });

  it('refused credentials are not retried: one request, one line, exit 1', async () => {
    const p = await proxy(server.port, []);
    const r = await cliAsync(['-r', `rest:${p.url.replace('://', '://bob:nope@')}repo/`, 'snapshots'], { RESTIC_PASSWORD: PASSWORD });
    expectOneLineError(r, /authentication failed.*401/);
    expect(p.counts.requests).toBe(1);
  });
});

describe('S3: restic-ts → fault proxy → Ceph radosgw', () => {
  let ceph: CephCluster;
  beforeAll(async () => {
    ceph = await startCeph();
  }, 180_000);
  afterAll(async () => {
    await ceph?.stop();
  });

  it('completes through faults via retries, fails cleanly when refused, and restic check --read-data passes', async () => {
    // the SDK adds ?x-id=PutObject etc. to object requests
    const bucket = `faults-${randomBytes(4).toString('hex')}`;
    await scenario({
      direct: `s3:${ceph.endpoint}/${bucket}/repo`,
      viaProxy: (p) => `s3:http://127.0.0.1:${p.port}/${bucket}/repo`,
      port: ceph.port,
      env: ceph.env,
      transientFaults: [
        { method: 'GET', path: /list-type=2.*prefix=repo%2Fkeys/, fault: { kind: 'truncate', afterBytes: 100 } },
        { method: 'GET', path: /\/repo\/keys\/[0-9a-f]{64}(\?|$)/, fault: { kind: 'stall' } },
        { method: 'PUT', path: /\/repo\/locks\/[0-9a-f]{64}(\?|$)/, fault: { kind: 'http500' } },
        { method: 'PUT', path: /\/repo\/data\/[0-9a-f]{2}\/[0-9a-f]{64}(\?|$)/, fault: { kind: 'truncate', afterBytes: 0 } },
        { method: 'PUT', path: /\/repo\/data\/[0-9a-f]{2}\/[0-9a-f]{64}(\?|$)/, nth: 2, fault: { kind: 'reset' } },
        { method: 'PUT', path: /\/repo\/data\/[0-9a-f]{2}\/[0-9a-f]{64}(\?|$)/, nth: 3, fault: { kind: 'http500' } },
        { method: 'PUT', path: /\/repo\/index\/[0-9a-f]{64}(\?|$)/, fault: { kind: 'reset' } },
        { method: 'PUT', path: /\/repo\/snapshots\/[0-9a-f]{64}(\?|$)/, fault: { kind: 'truncate', afterBytes: 0 } },
      ],
      refuse: { method: 'PUT', path: /\/repo\/data\//, every: true, fault: { kind: 'http500' } },
      options: ['-o', 's3.timeout=2s', '-o', 's3.retries=3'],
      expectFinal: /save pack [0-9a-f]{64} failed after 4 attempts: .*500/,
    });
  });
});
