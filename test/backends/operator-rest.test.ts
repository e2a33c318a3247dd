/**
 * Issue 7 over REST: our REST server with authentication on 127.0.0.1, driven from a
 * CheBackupServerConfiguration object and its secrets; restic 0.14 restores what we wrote.
 * Also: event sequences (success, wrong password, unreachable server, cancellation) with no
 * partial snapshot, the internal server (restart, refuses unauthenticated requests) and
 * chectl's environment names driving the CLI.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_STAGES,
  type BackupServerConfiguration,
  OperationAbortedError,
  RESTORE_STAGES,
  type SecretMap,
  type StatusEvent,
  WrongPasswordError,
  backupCheInstallation,
  openBackupRepository,
  resolveBackupServer,
  restoreCheInstallation,
  resticUrlWithCredentials,
  startInternalBackupServer,
} from '../../src/index.js';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { type RestServer, startRestServer } from '../../src/rest-server/server.js';
import { hasRestic } from '../helpers/restic.js';
import { cliAsync } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';
import {
  HARD_PASSWORD,
  MiB,
  TEST_KDF,
  cheInstallation,
  expectRestoredDir,
  expectRestoredInstallation,
  expectedDumps,
  fileDigest,
  resticAsyncOk,
  sqlDump,
  stagesOf,
} from '../helpers/operator-helpers.js';

const HTTP_USER = 'che-backup';
const HTTP_PASSWORD = `p'w "x" ü ${randomBytes(4).toString('hex')}`;

let work: { dir: string; cleanup: () => void };
let server: RestServer;
let config: BackupServerConfiguration;
let secrets: SecretMap;
let dumps: Awaited<ReturnType<typeof expectedDumps>>;

async function snapshotCount(): Promise<number> {
  const { repo } = await openBackupRepository(resolveBackupServer(config, secrets), { create: false });
  try {
    let n = 0;
    for await (const _ of repo.listIds('snapshot')) n++;
    return n;
  } finally {
    await repo.close();
  }
}

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

beforeAll(async () => {
  expect(hasRestic(), 'restic 0.14 must be installed (apt-get install restic)').toBe(true);
  work = tempDir('restic-ts-op-rest-');
  const htpasswd = path.join(work.dir, 'htpasswd');
  fs.writeFileSync(htpasswd, `${HTTP_USER}:${await bcryptHash(HTTP_PASSWORD, randomBytes(16), 4)}\n`);
  server = await startRestServer({ path: path.join(work.dir, 'data'), listen: '127.0.0.1:0', htpasswdFile: htpasswd });
  config = {
    metadata: { name: 'eclipse-che-backup-server-config' },
    spec: {
      rest: {
        protocol: 'http',
        hostname: '127.0.0.1',
        port: server.port,
        repositoryPath: 'che',
        repositoryPasswordSecretRef: 'chectl-backup-repository-password',
        credentialsSecretRef: 'chectl-backup-rest-server-credentials',
      },
    },
  };
  secrets = {
    'chectl-backup-repository-password': { 'repo-password': HARD_PASSWORD },
    'chectl-backup-rest-server-credentials': { username: HTTP_USER, password: HTTP_PASSWORD },
  };
  dumps = await expectedDumps();
});

afterAll(async () => {
  await server?.close();
  work?.cleanup();
});

describe('Che installation over REST (auth on, hard password)', () => {
  let shortId = '';
  let events: StatusEvent[] = [];

  it('backs up from a configuration object with two 50 MiB streamed dumps; success events end in Succeeded', async () => {
    const seen: StatusEvent[] = [];
    const out = await backupCheInstallation({ configuration: config, secrets }, cheInstallation(), {
      kdf: TEST_KDF,
      hostname: 'che-operator',
      onStatus: (e) => seen.push(e),
    });
    shortId = out.shortId;
    events = out.events;
    expect(out.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(shortId).toBe(out.snapshotId.slice(0, 8));
    expect(out.files).toBe(6);
    expect(out.bytes).toBeGreaterThan(100 * MiB);
    expect(out.bytes).toBeLessThan(100 * MiB + 64 * 1024);
    expect(out.snapshot.paths).toEqual(['/tmp/che-backup-data']);
    expect(seen).toEqual(events);
    expect(stagesOf(events)).toEqual([
      `InProgress:${BACKUP_STAGES.connecting}`,
      `InProgress:${BACKUP_STAGES.collecting}`,
      `InProgress:${BACKUP_STAGES.sending}`,
      `Succeeded:`,
    ]);
    expect(events[0]!.message).toMatch(/^Backup is in progress\. Start time: \d{4}-/);
    expect(events.at(-1)!.message).toMatch(/^Backup successfully finished at \d{4}-/);
    expect(events.at(-1)!.snapshotId).toBe(shortId);
  }, 240_000);

  it('restores by latest: parsed manifests and byte-identical dump streams', async () => {
    const seen: StatusEvent[] = [];
    const r = await restoreCheInstallation({ configuration: config, secrets }, 'latest', { onStatus: (e) => seen.push(e) });
    try {
      expect(r.installation.shortId).toBe(shortId);
      await expectRestoredInstallation(r.installation, dumps);
    } finally {
      await r.close();
    }
    expect(stagesOf(seen)).toEqual([`InProgress:${RESTORE_STAGES.downloading}`, `Succeeded:`]);
    expect(seen.at(-1)!.snapshotId).toBe(shortId);
  }, 240_000);

  it('restores by the 8-character ID into a directory, byte-identically', async () => {
    const target = path.join(work.dir, 'restore-short-id');
    const r = await restoreCheInstallation({ configuration: config, secrets }, shortId, { target });
    await r.close();
    expect(r.installation.snapshotId.startsWith(shortId)).toBe(true);
    expectRestoredDir(target, dumps);
    expect(fs.readFileSync(path.join(target, 'che-cr.yaml'), 'utf8')).toBe(r.installation.cheCluster.yaml);
  }, 240_000);

  it('restic 0.14 restores the same snapshot with identical files', async () => {
    const repoUrl = resticUrlWithCredentials(resolveBackupServer(config, secrets));
    const target = path.join(work.dir, 'restore-restic');
    await resticAsyncOk(repoUrl, HARD_PASSWORD, ['restore', shortId, '--target', target]);
    expectRestoredDir(target, dumps);
    const ours = path.join(work.dir, 'restore-short-id');
    for (const f of ['che-cr.yaml', 'backup-info.yaml', 'secrets/che-postgres-secret.yaml']) {
      expect(fileDigest(path.join(target, f))).toEqual(fileDigest(path.join(ours, f)));
    }
    const snaps = JSON.parse(await resticAsyncOk(repoUrl, HARD_PASSWORD, ['snapshots', '--json'])) as Array<{
      short_id: string;
      paths: string[];
      hostname: string;
    }>;
    expect(snaps.map((s) => [s.short_id, s.paths, s.hostname])).toEqual([[shortId, ['/tmp/che-backup-data'], 'che-operator']]);
  }, 240_000);

  it('a wrong repository password fails at "Connecting" with a human message and writes no snapshot', async () => {
    const before = await snapshotCount();
    const seen: StatusEvent[] = [];
    const wrong = { ...secrets, 'chectl-backup-repository-password': { 'repo-password': HARD_PASSWORD + 'x' } };
    const err = await backupCheInstallation({ configuration: config, secrets: wrong }, cheInstallation({ dbche: MiB }), {
      kdf: TEST_KDF,
      onStatus: (e) => seen.push(e),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WrongPasswordError);
    expect(stagesOf(seen)).toEqual([`InProgress:${BACKUP_STAGES.connecting}`, `Failed:${BACKUP_STAGES.connecting}`]);
    expect(seen.at(-1)!.message).toBe(
      `Error: the repository password is wrong: no key of the repository at rest:http://127.0.0.1:${server.port}/che/ opens with it`,
    );
    expect(await snapshotCount()).toBe(before);
  });

  it('wrong HTTP credentials fail with a one-line message naming authentication', async () => {
    const seen: StatusEvent[] = [];
    const bad = { ...secrets, 'chectl-backup-rest-server-credentials': { username: HTTP_USER, password: 'nope' } };
    await expect(
      backupCheInstallation({ configuration: config, secrets: bad }, cheInstallation({ dbche: MiB }), {
        kdf: TEST_KDF,
        onStatus: (e) => seen.push(e),
      }),
    ).rejects.toThrow();
    expect(seen.at(-1)!.state).toBe('Failed');
    expect(seen.at(-1)!.message).toMatch(/^Error: .*(401|[Uu]nauthori[sz]ed|authenticat)/);
    expect(seen.at(-1)!.message).not.toContain('\n');
    expect(seen.at(-1)!.message).not.toContain('nope');
  });

  it('an unreachable server fails at "Connecting" with a human message', async () => {
    const port = await closedPort();
    const seen: StatusEvent[] = [];
    const off: BackupServerConfiguration = { spec: { rest: { ...config.spec.rest!, port } } };
    await expect(
      backupCheInstallation({ configuration: off, secrets }, cheInstallation({ dbche: MiB }), {
        kdf: TEST_KDF,
        onStatus: (e) => seen.push(e),
      }),
    ).rejects.toThrow();
    expect(stagesOf(seen)).toEqual([`InProgress:${BACKUP_STAGES.connecting}`, `Failed:${BACKUP_STAGES.connecting}`]);
    expect(seen.at(-1)!.message).toBe(`Error: cannot connect to rest:http://${HTTP_USER}@127.0.0.1:${port}/che/: connection refused`);
  });

  it('cancellation through an AbortSignal mid-stream fails the backup and leaves no snapshot', async () => {
    const before = await snapshotCount();
    const ac = new AbortController();
    const inst = cheInstallation({ dbche: MiB });
    async function* abortingDump(): AsyncGenerator<Uint8Array> {
      let n = 0;
      for await (const c of sqlDump(9, 40 * MiB)) {
        yield c;
        n += c.length;
        if (n > 4 * MiB) ac.abort();
      }
    }
    inst.databases!.push({ name: 'big', dump: abortingDump() });
    const seen: StatusEvent[] = [];
    const err = await backupCheInstallation({ configuration: config, secrets }, inst, {
      kdf: TEST_KDF,
      signal: ac.signal,
      onStatus: (e) => seen.push(e),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(OperationAbortedError);
    expect((err as OperationAbortedError).exitCode).toBe(130);
    expect(stagesOf(seen)).toEqual([
      `InProgress:${BACKUP_STAGES.connecting}`,
      `InProgress:${BACKUP_STAGES.collecting}`,
      `Failed:${BACKUP_STAGES.collecting}`,
    ]);
    expect(seen.at(-1)!.message).toBe(`Error: cancelled during "${BACKUP_STAGES.collecting}"`);
    expect(await snapshotCount()).toBe(before);
  });

  it('restoring an unknown snapshot ID fails with its own message', async () => {
    const seen: StatusEvent[] = [];
    await expect(restoreCheInstallation({ configuration: config, secrets }, 'deadbeef', { onStatus: (e) => seen.push(e) })).rejects.toThrow(
      /deadbeef/,
    );
    expect(stagesOf(seen)).toEqual([`InProgress:${RESTORE_STAGES.downloading}`, `Failed:${RESTORE_STAGES.downloading}`]);
    expect(seen.at(-1)!.message).toBe(`Error: no backup snapshot deadbeef in rest:http://${HTTP_USER}@127.0.0.1:${server.port}/che/`);
  });
});

describe('restore from a location without a repository', () => {
  it('fails with "there is no backup repository" and creates nothing', async () => {
    const empty: BackupServerConfiguration = { spec: { rest: { ...config.spec.rest!, repositoryPath: 'nothing-here' } } };
    const seen: StatusEvent[] = [];
    await expect(restoreCheInstallation({ configuration: empty, secrets }, 'latest', { onStatus: (e) => seen.push(e) })).rejects.toThrow();
    expect(seen.at(-1)).toMatchObject({
      state: 'Failed',
      stage: RESTORE_STAGES.downloading,
      message: `Error: there is no backup repository at rest:http://127.0.0.1:${server.port}/nothing-here/`,
    });
    expect(fs.existsSync(path.join(work.dir, 'data', 'nothing-here'))).toBe(false);
  });
});

describe('internal backup server', () => {
  it('has authentication on, survives a restart with its data and refuses unauthenticated requests', async () => {
    const dir = path.join(work.dir, 'internal');
    const small = { dbche: 3 * MiB + 17 };
    const want = await expectedDumps(small);
    const first = await startInternalBackupServer({ dir, bcryptCost: 4 });
    let shortId: string;
    try {
      expect(first.configuration.spec.rest).toMatchObject({
        protocol: 'http',
        hostname: '127.0.0.1',
        port: first.server.port,
        repositoryPath: 'che',
      });
      expect(first.resolved.username).toMatch(/^che-backup-/);
      expect(first.resolved.repositoryPassword.length).toBeGreaterThanOrEqual(12);
      expect(fs.statSync(path.join(dir, 'credentials.json')).mode & 0o777).toBe(0o600);
      const out = await backupCheInstallation({ configuration: first.configuration, secrets: first.secrets }, cheInstallation(small), {
        kdf: TEST_KDF,
      });
      shortId = out.shortId;
    } finally {
      await first.close();
    }
    const second = await startInternalBackupServer({ dir, bcryptCost: 4 });
    try {
      expect(second.secrets).toEqual(first.secrets);
      const base = `http://127.0.0.1:${second.server.port}/che/`;
      // No credentials, wrong credentials: 401 for the config, the listing and the keys.
      for (const url of [`${base}config`, `${base}snapshots/`, `${base}keys/`]) {
        const anon = await request(url, { method: 'GET' });
        await anon.body.dump();
        expect(anon.statusCode).toBe(401);
        const wrong = await request(url, {
          method: 'GET',
          headers: { authorization: 'Basic ' + Buffer.from(`${second.resolved.username}:wrong`).toString('base64') },
        });
        await wrong.body.dump();
        expect(wrong.statusCode).toBe(401);
      }
      const anonPost = await request(`${base}?create=true`, { method: 'POST' });
      await anonPost.body.dump();
      expect(anonPost.statusCode).toBe(401);
      const r = await restoreCheInstallation({ server: second.resolved }, shortId);
      try {
        expect(r.installation.snapshotId.slice(0, 8)).toBe(shortId);
        await expectRestoredInstallation(r.installation, want);
      } finally {
        await r.close();
      }
    } finally {
      await second.close();
    }
  }, 120_000);
});

describe('CLI with chectl environment names', () => {
  it('BACKUP_REPOSITORY_URL/PASSWORD and REST_SERVER_USERNAME/PASSWORD drive init, backup (prints "Backup snapshot ID") and restore <id> --target', async () => {
    const src = path.join(work.dir, 'cli-src');
    fs.mkdirSync(path.join(src, 'db'), { recursive: true });
    fs.writeFileSync(path.join(src, 'che-cr.yaml'), 'kind: CheCluster\n');
    fs.writeFileSync(path.join(src, 'db', 'dbche.sql'), randomBytes(300_000));
    const env = {
      BACKUP_REPOSITORY_URL: `rest:http://127.0.0.1:${server.port}/chectl/`,
      BACKUP_REPOSITORY_PASSWORD: HARD_PASSWORD,
      REST_SERVER_USERNAME: HTTP_USER,
      REST_SERVER_PASSWORD: HTTP_PASSWORD,
    };
    const init = await cliAsync(['init'], env);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const b = await cliAsync(['backup', src], env);
    expect(b.code, b.stderr).toBe(0);
    const lines = b.stdout.trimEnd().split('\n');
    const m = /^Backup snapshot ID: ([0-9a-f]{8})$/.exec(lines.at(-1)!);
    expect(m, b.stdout).not.toBeNull();
    expect(lines.at(-2)).toBe(`snapshot ${m![1]} saved`);
    const target = path.join(work.dir, 'cli-restore');
    const r = await cliAsync(['restore', m![1]!, '--target', target], env);
    expect(r.code, r.stderr).toBe(0);
    const restored = path.join(target, src);
    expect(fs.readFileSync(path.join(restored, 'che-cr.yaml'), 'utf8')).toBe('kind: CheCluster\n');
    expect(fileDigest(path.join(restored, 'db', 'dbche.sql'))).toEqual(fileDigest(path.join(src, 'db', 'dbche.sql')));
    // Without the REST credentials the server refuses: a one-line error, not a hang.
    const anon = await cliAsync(['snapshots'], {
      BACKUP_REPOSITORY_URL: env.BACKUP_REPOSITORY_URL,
      BACKUP_REPOSITORY_PASSWORD: HARD_PASSWORD,
    });
    expect(anon.code).not.toBe(0);
    expect(anon.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
