/**
 * restic 0.14 and restic-ts against our REST server, run as `restic-ts rest-server` in its
 * own process (so restic can be called synchronously): the full round trip by each tool,
 * each reading the other's repository, append-only against real restic, TLS with --cacert,
 * the errors users cause, metrics and a clean shutdown on SIGTERM. 127.0.0.1 only; every
 * server process is stopped by its PID.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { cli } from '../helpers/cli.js';
import { diffTrees, generateTree } from '../helpers/gentree.js';
import { restic, resticOk } from '../helpers/restic.js';
import { startRestServerProcess, type ServerProcess } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';
import { selfSignedCert } from '../helpers/tls.js';

const PASSWORD = 'interop secret';
const USER = 'alice';
const USER_PW = 'wonder land/42'; // needs escaping in URLs
const tmp = tempDir('restic-ts-rest-interop-');
const servers: ServerProcess[] = [];
let server: ServerProcess;
let src: string;
let extra: string;
let htpasswd: string;
let dataDir: string;

const withCreds = (url: string) => url.replace('://', `://${USER}:${encodeURIComponent(USER_PW)}@`);
const repoAt = (s: ServerProcess, name: string) => `rest:${withCreds(s.url)}${name}/`;

function expectOneLine(stderr: string, re: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Fatal: /);
  expect(lines[0]).toMatch(re);
}

async function serve(args: string[]): Promise<ServerProcess> {
  const s = await startRestServerProcess(args);
  servers.push(s);
  return s;
}

beforeAll(async () => {
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 3 * 1024 * 1024 });
  extra = path.join(tmp.dir, 'extra');
  fs.mkdirSync(extra);
  fs.writeFileSync(path.join(extra, 'blob.bin'), randomBytes(2 * 1024 * 1024));
  htpasswd = path.join(tmp.dir, 'htpasswd');
  fs.writeFileSync(htpasswd, `${USER}:${await bcryptHash(USER_PW, randomBytes(16), 4, '2y')}\n`);
  dataDir = path.join(tmp.dir, 'data');
  server = await serve(['--path', dataDir, '--htpasswd-file', htpasswd, '--prometheus']);
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  tmp.cleanup();
});

describe('restic 0.14 against our REST server', () => {
  it('init, backup, forget --prune, check --read-data, restore identical; restic-ts reads the repository', () => {
    const repo = repoAt(server, 'by-restic');
    resticOk(repo, PASSWORD, ['init']);
    const first = JSON.parse(resticOk(repo, PASSWORD, ['backup', '--json', '--host', 'r1', extra]).trim().split('\n').pop()!);
    resticOk(repo, PASSWORD, ['backup', '--host', 'r1', src]);
    // dropping the first snapshot leaves its packs unused: prune deletes them over REST
    const pruned = resticOk(repo, PASSWORD, ['forget', first.snapshot_id, '--prune']);
    expect(pruned).toMatch(/1 snapshots have been removed/);
    expect(pruned).toMatch(/removing [1-9]\d* old packs/);
    expect(resticOk(repo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    const target = path.join(tmp.dir, 'restore-restic');
    resticOk(repo, PASSWORD, ['restore', 'latest', '--target', target]);
    expect(diffTrees(src, path.join(target, src))).toEqual([]);

    // restic-ts reads what restic wrote
    let r = cli(['-r', repo, 'snapshots', '--json'], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    const snaps = JSON.parse(r.stdout);
    expect(snaps.map((s: { hostname: string; paths: string[] }) => [s.hostname, s.paths])).toEqual([['r1', [src]]]);
    const ours = path.join(tmp.dir, 'restore-ours-from-restic');
    r = cli(['-r', repo, 'restore', 'latest', '--target', ours], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    expect(diffTrees(src, path.join(ours, src), { mtimeToleranceNs: 1000n })).toEqual([]);
  });
});

describe('restic-ts against our REST server', () => {
  it('init, backup, restore identical (credentials from chectl variables); restic checks and restores it', () => {
    const repo = `rest:${server.url}by-ours/`;
    const env = { RESTIC_PASSWORD: PASSWORD, REST_SERVER_USERNAME: USER, REST_SERVER_PASSWORD: USER_PW };
    let r = cli(['-r', repo, 'init'], env);
    expect(r.code, r.stderr).toBe(0);
    r = cli(['-r', repo, 'backup', '--host', 'ours', extra], {
      RESTIC_PASSWORD: PASSWORD,
      RESTIC_REST_USERNAME: USER,
      RESTIC_REST_PASSWORD: USER_PW,
    });
    expect(r.code, r.stderr).toBe(0);
    r = cli(['-r', repo, 'backup', '--host', 'ours', src], env);
    expect(r.code, r.stderr).toBe(0);
    const id = /snapshot ([0-9a-f]{8}) saved/.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();
    const target = path.join(tmp.dir, 'restore-ours');
    r = cli(['-r', repo, 'restore', id!, '--target', target], env);
    expect(r.code, r.stderr).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);

    // restic 0.14 reads what restic-ts wrote (credentials in the URL)
    const rrepo = repoAt(server, 'by-ours');
    expect(resticOk(rrepo, PASSWORD, ['check', '--read-data'])).toMatch(/no errors were found/);
    const snaps = JSON.parse(resticOk(rrepo, PASSWORD, ['snapshots', '--json']));
    expect(snaps.map((s: { hostname: string }) => s.hostname)).toEqual(['ours', 'ours']);
    const byRestic = path.join(tmp.dir, 'restore-restic-from-ours');
    resticOk(rrepo, PASSWORD, ['restore', id!, '--target', byRestic]);
    expect(diffTrees(src, path.join(byRestic, src))).toEqual([]);
  });
});

describe('append-only server with real restic', () => {
  it('backups (which delete their locks) work; deleting snapshots is refused and none is lost', async () => {
    const repo = 'append';
    let r = cli(['-r', repoAt(server, repo), 'init'], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    const ao = await serve(['--path', dataDir, '--htpasswd-file', htpasswd, '--append-only']);
    const aoRepo = repoAt(ao, repo);
    resticOk(aoRepo, PASSWORD, ['backup', '--host', 'ao', extra]);
    r = cli(['-r', aoRepo, 'backup', '--host', 'ao-ours', extra], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    // restic's forget would retry the refused DELETE for ~40 s (its retry policy); the refusal
    // itself is shown over HTTP here and with RestBackend in rest-server.test.ts.
    const snapDir = path.join(dataDir, repo, 'snapshots');
    const auth = { authorization: 'Basic ' + Buffer.from(`${USER}:${USER_PW}`).toString('base64') };
    for (const name of fs.readdirSync(snapDir)) {
      expect((await fetch(`${ao.url}${repo}/snapshots/${name}`, { method: 'DELETE', headers: auth })).status).toBe(403);
    }
    expect(fs.readdirSync(path.join(dataDir, repo, 'locks'))).toEqual([]); // restic and restic-ts removed their locks
    r = cli(['-r', aoRepo, 'snapshots', '--json'], { RESTIC_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    expect(
      JSON.parse(r.stdout)
        .map((s: { hostname: string }) => s.hostname)
        .sort(),
    ).toEqual(['ao', 'ao-ours']);
    const stopped = await ao.stop();
    expect(stopped.code).toBe(0);
  });
});

describe('TLS', () => {
  it('self-signed server: refused without --cacert, trusted with it (restic too), --insecure-tls only when asked', async () => {
    const cert = path.join(tmp.dir, 'cert.pem');
    const key = path.join(tmp.dir, 'key.pem');
    const g = selfSignedCert(key, cert);
    expect(g.status, g.stderr).toBe(0);
    const s = await serve([
      '--path',
      path.join(tmp.dir, 'tlsdata'),
      '--htpasswd-file',
      htpasswd,
      '--tls',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ]);
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const repo = repoAt(s, 'tls');
    const env = { RESTIC_PASSWORD: PASSWORD };
    let r = cli(['-r', repo, 'init'], env);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /TLS certificate .* is not trusted.*--cacert/);
    r = cli(['-r', repo, '--cacert', cert, 'init'], env);
    expect(r.code, r.stderr).toBe(0);
    r = cli(['-r', repo, '--cacert', cert, 'backup', '--host', 'tls', extra], env);
    expect(r.code, r.stderr).toBe(0);
    r = cli(['-r', repo, '--insecure-tls', 'snapshots', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
    expect(restic(repo, PASSWORD, ['snapshots']).code).not.toBe(0); // restic checks certificates too
    expect(JSON.parse(resticOk(repo, PASSWORD, ['--cacert', cert, 'snapshots', '--json']))).toHaveLength(1);
  });
});

describe('errors users can cause', () => {
  const env = { RESTIC_PASSWORD: PASSWORD };
  it('no or wrong credentials: one line, exit 1', () => {
    let r = cli(['-r', `rest:${server.url}by-ours/`, 'snapshots'], env);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /authentication failed.*401/);
    r = cli(['-r', `rest:${server.url.replace('://', `://${USER}:Xy7notit@`)}by-ours/`, 'snapshots'], env);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /authentication failed.*401/);
    expect(r.stderr).not.toContain('Xy7notit'); // the password is not echoed
  });

  it('a missing repository: exit 10', () => {
    const r = cli(['-r', repoAt(server, 'nothing-here'), 'snapshots'], env);
    expect(r.code).toBe(10);
    expectOneLine(r.stderr, /repository does not exist/);
  });

  it('an unreachable host: one line, exit 1', async () => {
    const port = await closedPort();
    const r = cli(['-r', `rest:http://127.0.0.1:${port}/x/`, 'snapshots'], env);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, new RegExp(`cannot connect to rest:http://127\\.0\\.0\\.1:${port}/x/: connection refused`));
  });
});

describe('metrics and shutdown', () => {
  it('serves Prometheus metrics for the traffic above and stops cleanly on SIGTERM', async () => {
    const auth = 'Basic ' + Buffer.from(`${USER}:${USER_PW}`).toString('base64');
    expect((await fetch(`${server.url}metrics`)).status).toBe(401);
    const res = await fetch(`${server.url}metrics`, { headers: { authorization: auth } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/rest_server_blob_write_total\{repo="by-restic",type="data",user="alice"\} [1-9]/);
    expect(text).toMatch(/rest_server_blob_delete_total\{repo="by-restic",type="data",user="alice"\} [1-9]/);
    expect(text).toMatch(/rest_server_blob_read_bytes_total\{repo="by-ours",type="data",user="alice"\} [1-9]/);
    const { code, log } = await server.stop();
    expect(code).toBe(0);
    expect(log).toMatch(/SIGTERM received/);
    await expect(fetch(`${server.url}config`)).rejects.toThrow();
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
