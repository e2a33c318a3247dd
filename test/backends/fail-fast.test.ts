/**
 * Fail fast and once: the server dies in the middle of a backup and stays down. With the
 * default options the backup must stop within a bounded time after the death, print ONE line
 * naming the cause (where, which operation, the last error) and exit 1 — not one line per
 * remaining file, and not after minutes of retries. For REST (our server as its own process,
 * SIGKILLed), S3 (Ceph's radosgw SIGKILLed behind a counting proxy), SFTP (sshd and its
 * sessions SIGKILLed), and a REST server that stops answering (SIGSTOP: the idle timeout).
 *
 * The bound is generous: it is a behaviour bound (seconds, not the minutes before), not a
 * timing benchmark. The measured figures are logged for the report.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCeph, type CephCluster } from '../helpers/ceph.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { cliAsync, startRestServerProcess, type AsyncResult, type ServerProcess } from '../helpers/spawn-async.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'fail fast';
/** Death → exit must stay under this (defaults: 6 retries, 45 s budget, 30 s idle timeout). */
const BOUND_MS = 75_000;
const tmp = tempDir('restic-ts-failfast-');
let src: string;

beforeAll(() => {
  // many files of incompressible data: several packs, and hundreds of files still to go
  src = path.join(tmp.dir, 'src');
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 30; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), randomBytes(80_000 + ((d * 31 + f) % 7) * 10_000));
  }
});

afterAll(() => tmp.cleanup());

interface Outcome {
  result: AsyncResult;
  /** ms from the server's death to the command's exit */
  afterDeath: number;
  lines: number;
}

/** Run a backup; `watch` resolves when the server should die, then `kill` kills it. */
async function backupThroughDeath(
  args: string[],
  env: Record<string, string>,
  watch: () => Promise<void>,
  kill: () => void,
): Promise<Outcome> {
  let killedAt = 0;
  const running = cliAsync([...args, 'backup', '--host', 'doomed', src], { RESTIC_PASSWORD: PASSWORD, ...env }, 400_000);
  const killer = watch().then(() => {
    kill();
    killedAt = Date.now();
  });
  const result = await running;
  const endedAt = Date.now();
  await killer.catch(() => undefined);
  expect(killedAt, `the server was never killed: the backup ended first\n${result.stdout}\n${result.stderr}`).toBeGreaterThan(0);
  const text = (result.stdout + result.stderr).trimEnd();
  return { result, afterDeath: endedAt - killedAt, lines: text ? text.split('\n').length : 0 };
}

/** One cause line on stderr, exit 1, in bounded time. */
function expectFailedOnce(o: Outcome, what: string, cause: RegExp): void {
  const { result } = o;
  console.log(
    `${what}: exit ${result.code} ${(o.afterDeath / 1000).toFixed(1)} s after the server died, ${o.lines} line(s): ${result.stderr.trim()}`,
  );
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Fatal: /);
  expect(lines[0]).toMatch(cause);
  expect(lines[0]).not.toMatch(/remove lock/); // the cause, not the clean-up after it
  expect(result.stdout).not.toMatch(/error/i);
  expect(o.afterDeath).toBeLessThan(BOUND_MS);
}

/** Resolves once `dir` (a repository's data/) holds a pack file. */
async function firstPackIn(dir: string): Promise<void> {
  for (;;) {
    try {
      for (const sub of fs.readdirSync(dir)) {
        const p = path.join(dir, sub);
        if (fs.statSync(p).isDirectory() ? fs.readdirSync(p).some((n) => /^[0-9a-f]{64}$/.test(n)) : /^[0-9a-f]{64}$/.test(sub)) return;
      }
    } catch {
      /* not created yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('REST server killed mid-backup', () => {
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('SIGKILL: one line naming host, operation and error; exit 1; prompt', async () => {
    const data = path.join(tmp.dir, 'rest');
    server = await startRestServerProcess(['--path', data, '--no-auth']);
    const repo = `rest:${server.url}repo/`;
    expect((await cliAsync(['-r', repo, 'init'], { RESTIC_PASSWORD: PASSWORD })).code).toBe(0);
    const s = server;
    const o = await backupThroughDeath(
      ['-r', repo],
      {},
      () => firstPackIn(path.join(data, 'repo', 'data')),
      () => process.kill(s.pid, 'SIGKILL'),
    );
    const host = new URL(server.url).host.replace(/\./g, '\\.');
    expectFailedOnce(o, 'REST', new RegExp(`(save|load|stat|list) .*failed after \\d+ attempts.*${host}.*connection refused`));
  });

  it('SIGSTOP (accepts, never answers): the idle timeout ends it, one line', async () => {
    const data = path.join(tmp.dir, 'rest-stopped');
    const stopped = await startRestServerProcess(['--path', data, '--no-auth']);
    try {
      const repo = `rest:${stopped.url}repo/`;
      expect((await cliAsync(['-r', repo, 'init'], { RESTIC_PASSWORD: PASSWORD })).code).toBe(0);
      const o = await backupThroughDeath(
        ['-r', repo, '-o', 'rest.timeout=3s', '-o', 'rest.max-retry-time=8s'],
        {},
        () => firstPackIn(path.join(data, 'repo', 'data')),
        () => process.kill(stopped.pid, 'SIGSTOP'),
      );
      expectFailedOnce(o, 'REST (SIGSTOP)', /failed after \d+ attempts.*(timeout|Timeout)/);
      expect(o.afterDeath).toBeLessThan(30_000);
    } finally {
      process.kill(stopped.pid, 'SIGCONT');
      await stopped.stop('SIGKILL');
    }
  });
});

describe('REST server killed mid-restore and mid-check', () => {
  for (const cmd of ['restore', 'check'] as const) {
    it(`${cmd}: one cause line, not one per file or pack`, async () => {
      const data = path.join(tmp.dir, `rest-${cmd}`);
      const srv = await startRestServerProcess(['--path', data, '--no-auth']);
      try {
        const repo = `rest:${srv.url}repo/`;
        const env = { RESTIC_PASSWORD: PASSWORD };
        expect((await cliAsync(['-r', repo, 'init'], env)).code).toBe(0);
        expect((await cliAsync(['-r', repo, 'backup', src], env)).code).toBe(0);
        const target = path.join(tmp.dir, `target-${cmd}`);
        const args = cmd === 'restore' ? ['restore', 'latest', '--target', target] : ['check', '--read-data'];
        const started = Date.now();
        let killedAt = 0;
        const running = cliAsync(['-r', repo, ...args], env, 400_000);
        // the server dies once the command is reading data (restore: files appear; check: it holds
        // its lock, so it has connected; a fixed delay raced its start-up on a loaded machine)
        const locks = path.join(data, 'repo', 'locks');
        const holdsLock = () => fs.existsSync(locks) && fs.readdirSync(locks).length > 0;
        const killer = (async () => {
          if (cmd === 'restore') while (!fs.existsSync(target)) await new Promise((r) => setTimeout(r, 10));
          else while (!holdsLock()) await new Promise((r) => setTimeout(r, 10));
          process.kill(srv.pid, 'SIGKILL');
          killedAt = Date.now();
        })();
        const result = await running;
        await killer;
        const text = (result.stdout + result.stderr).trimEnd();
        const o = { result, afterDeath: Date.now() - killedAt, lines: text.split('\n').length };
        expect(killedAt - started).toBeGreaterThan(0);
        // either the retry budget ran out, or a request on a fresh connection found the port closed
        expectFailedOnce(
          o,
          `REST ${cmd}`,
          /(save|load|list|stat) .*failed after \d+ attempts.*connection refused|cannot connect to rest:.*: connection refused/,
        );
      } finally {
        await srv.stop('SIGKILL');
      }
    });
  }
});

describe('S3 (Ceph radosgw) killed mid-backup', () => {
  let ceph: CephCluster;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    ceph = await startCeph();
  }, 180_000);
  afterAll(async () => {
    await proxy?.close();
    await ceph?.stop();
  });

  it('SIGKILL of radosgw: one line, exit 1, prompt', async () => {
    const bucket = `failfast-${randomBytes(4).toString('hex')}`;
    let packPut!: () => void;
    const sawPack = new Promise<void>((r) => (packPut = r));
    // a counting proxy in front of radosgw: the gateway dies at the first pack upload
    proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: ceph.port },
      onRequest: ({ method, path: p }) => {
        if (method === 'PUT' && /\/repo\/data\//.test(p)) setTimeout(packPut, 50);
        return undefined;
      },
      lifetimeMs: 600_000,
    });
    const repo = `s3:http://127.0.0.1:${proxy.port}/${bucket}/repo`;
    expect((await cliAsync(['-r', repo, 'init'], { RESTIC_PASSWORD: PASSWORD, ...ceph.env })).code).toBe(0);
    const o = await backupThroughDeath(
      ['-r', repo],
      ceph.env,
      () => sawPack,
      () => ceph.killGateway(),
    );
    expectFailedOnce(o, 'S3', new RegExp(`failed after \\d+ attempts.*127\\.0\\.0\\.1:${proxy.port}`));
  });
});

describe('SFTP (sshd) killed mid-backup', () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('SIGKILL of sshd and its sessions: one line, exit 1, prompt', async () => {
    const dir = path.join(sshd.home, 'failfast');
    const args = [
      '-r',
      `sftp://root@127.0.0.1:${sshd.port}/${dir}`,
      '--ssh-key-file',
      sshd.clientKey,
      '-o',
      `sftp.known-hosts=${sshd.knownHosts}`,
    ];
    expect((await cliAsync([...args, 'init'], { RESTIC_PASSWORD: PASSWORD })).code).toBe(0);
    const o = await backupThroughDeath(
      args,
      {},
      () => firstPackIn(path.join(dir, 'data')),
      () => {
        sshd.dropConnections(); // sessions are found as the listener's descendants
        process.kill(sshd.pid, 'SIGKILL');
      },
    );
    expectFailedOnce(o, 'SFTP', new RegExp(`failed after \\d+ attempts.*root@127\\.0\\.0\\.1:${sshd.port}`));
  });
});
