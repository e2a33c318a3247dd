/**
 * Issue 19 over our REST server with authentication: `restic-ts che backup|restore` with
 * chectl's flags round-trips a Che backup directory (initialising the repository, as Che's
 * operator did) and restic 0.14 restores the same snapshot identically; the library's
 * internal-server stage, repository check before backup/restore and the operator's restore
 * stages, each as Che reported them.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_STAGES,
  type BackupServerConfiguration,
  IntegrityError,
  type InternalBackupServer,
  RESTORE_STAGES,
  type SecretMap,
  type StatusEvent,
  backupCheInstallation,
  cheBackupStatus,
  cheRestoreStatus,
  openBackupRepository,
  resolveBackupServer,
  restoreCheInstallation,
  startInternalBackupServer,
} from '../../src/index.js';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { type RestServer, startRestServer } from '../../src/rest-server/server.js';
import { hasRestic } from '../helpers/restic.js';
import { cliAsync } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';
import { HARD_PASSWORD, MiB, TEST_KDF, cheInstallation, resticAsyncOk, stagesOf } from '../helpers/operator-helpers.js';

const USER = 'che';
const HTTP_PASSWORD = `h "t" p ${randomBytes(4).toString('hex')}`;

let work: { dir: string; cleanup: () => void };
let server: RestServer;
let data: string;
let cheDir: string;

/** Every entry under `dir`: type, permission bits, mtime, and a digest of each file's content. */
function listing(dir: string): string[] {
  const out: string[] = [];
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const st = fs.lstatSync(path.join(dir, rel));
    const what = st.isFile()
      ? createHash('sha256')
          .update(fs.readFileSync(path.join(dir, rel)))
          .digest('hex')
      : 'dir';
    out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.mtime.toISOString()} ${what}`);
  }
  return out;
}

/** A directory as Che's operator collected it into /tmp/che-backup-data. */
function makeCheDir(dir: string): void {
  for (const d of ['db', 'configmaps', 'secrets']) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  const file = (p: string, content: string | Buffer) => fs.writeFileSync(path.join(dir, p), content, { mode: 0o600 });
  file('che-cr.yaml', 'apiVersion: org.eclipse.che/v1\nkind: CheCluster\nmetadata:\n  name: eclipse-che\n');
  file('db/dbche.sql', randomBytes(3 * MiB));
  file('configmaps/custom-certs.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: custom-certs\n');
  file(
    'backup-info.yaml',
    'appsDomain: ""\ncheVersion: 7.41.2\ncreationDate: 2021-12-15 10:23:45.1 +0000 UTC m=+3.000000001\ninfrastructure: Kubernetes\nmetadataFileVersion: v1\nnamespace: eclipse-che\n',
  );
  fs.utimesSync(path.join(dir, 'secrets'), new Date('2021-12-15T10:23:45Z'), new Date('2021-12-15T10:23:45Z'));
}

function restConfig(repositoryPath: string): { configuration: BackupServerConfiguration; secrets: SecretMap } {
  return {
    configuration: {
      spec: {
        rest: {
          protocol: 'http',
          hostname: '127.0.0.1',
          port: server.port,
          repositoryPath,
          repositoryPasswordSecretRef: 'pw',
          credentialsSecretRef: 'creds',
        },
      },
    },
    secrets: { pw: { 'repo-password': HARD_PASSWORD }, creds: { username: USER, password: HTTP_PASSWORD } },
  };
}

async function snapshotCount(repositoryPath: string): Promise<number> {
  const c = restConfig(repositoryPath);
  const { repo } = await openBackupRepository(resolveBackupServer(c.configuration, c.secrets), { create: false });
  try {
    let n = 0;
    for await (const _ of repo.listIds('snapshot')) n++;
    return n;
  } finally {
    await repo.close();
  }
}

beforeAll(async () => {
  expect(hasRestic(), 'restic 0.14 must be installed (apt-get install restic)').toBe(true);
  work = tempDir('restic-ts-che-fidelity-');
  data = path.join(work.dir, 'data');
  const htpasswd = path.join(work.dir, 'htpasswd');
  fs.writeFileSync(htpasswd, `${USER}:${await bcryptHash(HTTP_PASSWORD, randomBytes(16), 4)}\n`);
  server = await startRestServer({ path: data, listen: '127.0.0.1:0', htpasswdFile: htpasswd });
  cheDir = path.join(work.dir, 'che-backup-data');
  makeCheDir(cheDir);
});

afterAll(async () => {
  await server?.close();
  work?.cleanup();
});

describe('restic-ts che backup|restore (chectl flags) against the REST server with auth', () => {
  const url = () => `rest:http://127.0.0.1:${server.port}/che`;
  const creds = () => ['-r', url(), '-p', HARD_PASSWORD, '--username', USER, '--password', HTTP_PASSWORD];
  let shortId = '';

  it('che backup initialises the missing repository and prints "Backup snapshot ID: <id>"', async () => {
    expect(fs.existsSync(path.join(data, 'che', 'config'))).toBe(false);
    const b = await cliAsync(['che', 'backup', ...creds(), cheDir]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toBe('');
    const lines = b.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1)).toEqual([`${BACKUP_STAGES.connecting}...`, `${BACKUP_STAGES.collecting}...`, `${BACKUP_STAGES.sending}...`]);
    const m = /^Backup snapshot ID: ([0-9a-f]{8})$/.exec(lines.at(-1)!);
    expect(m, b.stdout).not.toBeNull();
    shortId = m![1]!;
    expect(fs.existsSync(path.join(data, 'che', 'config'))).toBe(true);
  }, 120_000);

  it('che restore -s <short id> --target reproduces the directory; restic 0.14 restores the same snapshot identically', async () => {
    const ours = path.join(work.dir, 'restore-ours');
    const r = await cliAsync(['che', 'restore', ...creds(), '-s', shortId, '--target', ours]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      `${RESTORE_STAGES.downloading}...`,
      `Restored backup snapshot ${shortId} into ${ours}`,
    ]);
    expect(listing(ours)).toEqual(listing(cheDir));
    expect(listing(ours)).toContain(`secrets 755 2021-12-15T10:23:45.000Z dir`);
    const resticUrl = `rest:http://${USER}:${encodeURIComponent(HTTP_PASSWORD)}@127.0.0.1:${server.port}/che`;
    const theirs = path.join(work.dir, 'restore-restic');
    await resticAsyncOk(resticUrl, HARD_PASSWORD, ['restore', shortId, '--target', theirs]);
    expect(listing(theirs)).toEqual(listing(ours));
    const snaps = JSON.parse(await resticAsyncOk(resticUrl, HARD_PASSWORD, ['snapshots', '--json'])) as Array<{
      short_id: string;
      paths: string[];
    }>;
    expect(snaps.map((s) => [s.short_id, s.paths])).toEqual([[shortId, [cheDir]]]);
    await resticAsyncOk(resticUrl, HARD_PASSWORD, ['check', '--read-data']);
  }, 120_000);

  it("chectl's environment names, --json status, -s latest", async () => {
    const env = {
      BACKUP_REPOSITORY_URL: url(),
      BACKUP_REPOSITORY_PASSWORD: HARD_PASSWORD,
      REST_SERVER_USERNAME: USER,
      REST_SERVER_PASSWORD: HTTP_PASSWORD,
    };
    const b = await cliAsync(['che', 'backup', '--json', cheDir], env);
    expect(b.code, b.stderr).toBe(0);
    const status = JSON.parse(b.stdout) as Record<string, string>;
    expect(Object.keys(status)).toEqual(['message', 'state', 'snapshotId', 'cheVersion']);
    expect(status).toMatchObject({ state: 'Succeeded', cheVersion: '7.41.2' });
    expect(status.message).toMatch(/^Backup successfully finished at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* [+-]\d{4} \S+ m=\+\d+\.\d{9}$/);
    const target = path.join(work.dir, 'restore-latest');
    const r = await cliAsync(['che', 'restore', '-s', 'latest', '--target', target, '--read-data-subset', '100%'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${RESTORE_STAGES.downloading}...\nRestored backup snapshot ${status.snapshotId} into ${target}\n`);
    expect(listing(target)).toEqual(listing(cheDir));
  }, 120_000);

  it('bad input: one line, the right exit code, nothing written', async () => {
    const before = await snapshotCount('che');
    const cases: Array<{ args: string[]; code: number; line: string | RegExp }> = [
      {
        args: ['che', 'backup', '-r', url(), '-p', 'wrong', '--username', USER, '--password', HTTP_PASSWORD, cheDir],
        code: 12,
        line: /^Fatal: wrong password/,
      },
      {
        args: ['che', 'restore', ...creds(), '--target', path.join(work.dir, 'x')],
        code: 1,
        line: 'Fatal: "--snapshot-id" flag is required',
      },
      {
        args: ['che', 'backup', ...creds(), work.dir],
        code: 1,
        line: `Fatal: ${work.dir} is not a Che backup directory: it has no che-cr.yaml`,
      },
      {
        args: ['che', 'backup', '-r', url(), '-p', 'x', '--username', USER, cheDir],
        code: 1,
        line: 'Fatal: password parameter should be provided',
      },
      {
        args: ['che', 'backup', '-r', 'local:/x', '-p', 'x', cheDir],
        code: 1,
        line: "Fatal: Unrecognized backup server protocol in 'local:/x' url",
      },
      { args: ['che', 'list'], code: 1, line: 'Fatal: che: expected "backup" or "restore", got "list"' },
    ];
    for (const c of cases) {
      const r = await cliAsync(c.args);
      expect(r.code, r.stderr).toBe(c.code);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      if (typeof c.line === 'string') expect(lines[0]).toBe(c.line);
      else expect(lines[0]).toMatch(c.line);
    }
    expect(await snapshotCount('che')).toBe(before);
  }, 120_000);
});

describe('library: internal server stage, repository check, operator restore stages', () => {
  it('an internal server source reports "Setting up internal backup server" first; success clears the stage, carries cheVersion', async () => {
    let internal: InternalBackupServer | undefined;
    try {
      const out = await backupCheInstallation(
        {
          internalServer: async () => (internal = await startInternalBackupServer({ dir: path.join(work.dir, 'internal'), bcryptCost: 4 })),
        },
        cheInstallation({ dbche: MiB }),
        { kdf: TEST_KDF },
      );
      expect(stagesOf(out.events)).toEqual([
        `InProgress:${BACKUP_STAGES.internalServer}`,
        `InProgress:${BACKUP_STAGES.connecting}`,
        `InProgress:${BACKUP_STAGES.collecting}`,
        `InProgress:${BACKUP_STAGES.sending}`,
        'Succeeded:',
      ]);
      expect(out.events.map((e) => cheBackupStatus(e).stage)).toEqual([
        'Setting up internal backup server',
        'Connecting to backup repository',
        'Collecting Che installation data',
        'Sending backup shapshot to backup server',
        undefined,
      ]);
      expect(cheBackupStatus(out.events.at(-1)!)).toMatchObject({ state: 'Succeeded', snapshotId: out.shortId, cheVersion: '7.41.2' });
    } finally {
      await internal?.close();
    }
  }, 120_000);

  it('check before backup/restore: a flipped byte passes the quick check and fails a read-data subset; a lost pack fails the quick check; nothing written', async () => {
    const src = restConfig('damaged');
    await backupCheInstallation(src, cheInstallation({ dbche: 2 * MiB }), { kdf: TEST_KDF, check: true });
    const packs = (fs.readdirSync(path.join(data, 'damaged', 'data'), { recursive: true }) as string[])
      .map((p) => path.join(data, 'damaged', 'data', p))
      .filter((p) => fs.statSync(p).isFile())
      .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
    const fd = fs.openSync(packs[0]!, 'r+');
    fs.writeSync(fd, Buffer.from([0xff ^ fs.readFileSync(packs[0]!)[100]!]), 0, 1, 100);
    fs.closeSync(fd);
    const quick = await backupCheInstallation(src, cheInstallation({ dbche: 10 }), { kdf: TEST_KDF, check: true });
    expect(quick.events.at(-1)!.state).toBe('Succeeded');
    const count = await snapshotCount('damaged');
    const failures: Array<{ run: (onStatus: (e: StatusEvent) => void) => Promise<unknown>; stage: string }> = [
      {
        run: (onStatus) => backupCheInstallation(src, cheInstallation({ dbche: 10 }), { check: { readDataSubset: '100%' }, onStatus }),
        stage: BACKUP_STAGES.connecting,
      },
      {
        run: (onStatus) => restoreCheInstallation(src, 'latest', { check: { readData: true }, onStatus }),
        stage: RESTORE_STAGES.downloading,
      },
    ];
    const lose = () => fs.rmSync(packs[0]!);
    for (const step of [() => {}, lose]) {
      step();
      for (const f of failures) {
        const seen: StatusEvent[] = [];
        const err = await f.run((e) => seen.push(e)).catch((e) => e);
        expect(err).toBeInstanceOf(IntegrityError);
        expect(seen.at(-1)).toMatchObject({ state: 'Failed', stage: f.stage });
        expect(seen.at(-1)!.message).toMatch(/^Error: the backup is damaged: the repository check found \d+ error\(s\), the first: /);
      }
    }
    // With the pack gone even the quick check fails.
    const seen: StatusEvent[] = [];
    await expect(
      backupCheInstallation(src, cheInstallation({ dbche: 10 }), { check: true, onStatus: (e) => seen.push(e) }),
    ).rejects.toThrow(IntegrityError);
    expect(seen.at(-1)).toMatchObject({ state: 'Failed', stage: BACKUP_STAGES.connecting });
    expect(await snapshotCount('damaged')).toBe(count);
  }, 120_000);

  it('restore with operatorStages stays InProgress after the download; the operator reports the rest; Succeeded clears the stage', async () => {
    const src = restConfig('stages');
    const b = await backupCheInstallation(src, cheInstallation({ dbche: MiB }), { kdf: TEST_KDF });
    const seen: StatusEvent[] = [];
    const r = await restoreCheInstallation(src, b.shortId, { operatorStages: true, check: true, onStatus: (e) => seen.push(e) });
    try {
      expect(r.installation.databases.map((d) => d.name)).toEqual(['dbche']);
      const rest = Object.values(RESTORE_STAGES).slice(2);
      for (const s of rest) r.progress.stage(s);
      expect(() => r.progress.stage(RESTORE_STAGES.cleaningUp)).toThrow(/comes before the current one/);
      r.progress.succeeded();
      expect(() => r.progress.succeeded()).toThrow(/already ended/);
    } finally {
      await r.close();
    }
    expect(stagesOf(seen)).toEqual([...Object.values(RESTORE_STAGES).map((s) => `InProgress:${s}`), 'Succeeded:']);
    expect(seen.map((e) => JSON.stringify(cheRestoreStatus(e))).at(-1)).toBe(
      '{"message":"Restore successfully finished","state":"Succeeded"}',
    );
    expect(seen[0]!.message).toMatch(/^Restore is in progress\. Start time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* [+-]\d{4} \S+ m=\+/);
    expect(new Set(seen.slice(0, -1).map((e) => e.message)).size).toBe(1);
  }, 120_000);
});
