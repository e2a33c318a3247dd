/**
 * Issue 7 over SFTP: a real OpenSSH sshd on 127.0.0.1 (one for the file), driven from an
 * `sftp` CheBackupServerConfiguration with the private key in its secret and the host key
 * checked against known_hosts (Che switched checking off); restic 0.14 restores what we
 * wrote; chectl's SSH_KEY / SSH_KEY_FILE / --ssh-key-file drive the CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_STAGES,
  type BackupServerConfiguration,
  type SecretMap,
  type StatusEvent,
  WrongPasswordError,
  backupCheInstallation,
  openBackupRepository,
  resolveBackupServer,
  restoreCheInstallation,
} from '../../src/index.js';
import { hasRestic } from '../helpers/restic.js';
import { type Sshd, haveSshd, startSshd } from '../helpers/sshd.js';
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
  stagesOf,
} from '../helpers/operator-helpers.js';

let sshd: Sshd;
let work: { dir: string; cleanup: () => void };
let config: BackupServerConfiguration;
let secrets: SecretMap;
let repoPath: string;
let dumps: Awaited<ReturnType<typeof expectedDumps>>;

beforeAll(async () => {
  expect(hasRestic(), 'restic 0.14 must be installed (apt-get install restic)').toBe(true);
  expect(haveSshd(), 'OpenSSH sshd must be installed (apt-get install openssh-server) and the tests run as root').toBe(true);
  work = tempDir('restic-ts-op-sftp-');
  sshd = await startSshd();
  repoPath = path.join(sshd.home, 'che-backups');
  config = {
    metadata: { name: 'eclipse-che-backup-server-config' },
    spec: {
      sftp: {
        username: sshd.user,
        hostname: '127.0.0.1',
        port: sshd.port,
        repositoryPath: repoPath,
        repositoryPasswordSecretRef: 'chectl-backup-repository-password',
        sshKeySecretRef: 'chectl-backup-sftp-server-key',
      },
    },
  };
  secrets = {
    'chectl-backup-repository-password': { 'repo-password': HARD_PASSWORD },
    'chectl-backup-sftp-server-key': { 'ssh-privatekey': fs.readFileSync(sshd.clientKey, 'utf8') },
  };
  dumps = await expectedDumps();
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
  work?.cleanup();
});

async function snapshotCount(): Promise<number> {
  const { repo } = await openBackupRepository(resolveBackupServer(config, secrets, { knownHostsFile: sshd.knownHosts }), { create: false });
  try {
    let n = 0;
    for await (const _ of repo.listIds('snapshot')) n++;
    return n;
  } finally {
    await repo.close();
  }
}

describe('Che installation over SFTP (OpenSSH)', () => {
  let shortId = '';

  it('backs up from a configuration object, restores by latest and by short ID byte-identically', async () => {
    const source = { configuration: config, secrets, sftp: { knownHostsFile: sshd.knownHosts } };
    const out = await backupCheInstallation(source, cheInstallation(), { kdf: TEST_KDF, hostname: 'che-operator' });
    shortId = out.shortId;
    expect(stagesOf(out.events)).toEqual([
      `InProgress:${BACKUP_STAGES.connecting}`,
      `InProgress:${BACKUP_STAGES.collecting}`,
      `InProgress:${BACKUP_STAGES.sending}`,
      `Succeeded:`,
    ]);
    const latest = await restoreCheInstallation(source, 'latest');
    try {
      expect(latest.installation.shortId).toBe(shortId);
      await expectRestoredInstallation(latest.installation, dumps);
    } finally {
      await latest.close();
    }
    const target = path.join(work.dir, 'ours');
    const byId = await restoreCheInstallation(source, shortId, { target });
    await byId.close();
    expectRestoredDir(target, dumps);
  }, 300_000);

  it('restic 0.14 restores the same snapshot with identical files', async () => {
    const target = path.join(work.dir, 'restic');
    await resticAsyncOk(`sftp:${sshd.user}@127.0.0.1:${repoPath}`, HARD_PASSWORD, [
      '-o',
      `sftp.command=${sshd.sftpCommand()}`,
      'restore',
      shortId,
      '--target',
      target,
    ]);
    expectRestoredDir(target, dumps);
  }, 240_000);

  it('an unknown host key, a wrong password and an unauthorised key each fail with one human line and no snapshot', async () => {
    const before = await snapshotCount();
    const emptyKnownHosts = path.join(work.dir, 'empty_known_hosts');
    fs.writeFileSync(emptyKnownHosts, '');
    const cases: Array<{ source: Parameters<typeof backupCheInstallation>[0]; re: RegExp; type?: unknown }> = [
      { source: { configuration: config, secrets, sftp: { knownHostsFile: emptyKnownHosts } }, re: /host key/i },
      {
        source: {
          configuration: config,
          secrets: { ...secrets, 'chectl-backup-repository-password': { 'repo-password': 'wrong' } },
          sftp: { knownHostsFile: sshd.knownHosts },
        },
        re: /^Error: the repository password is wrong: no key of the repository at sftp:\/\/root@127\.0\.0\.1:\d+\/\/.* opens with it$/,
        type: WrongPasswordError,
      },
      {
        source: {
          configuration: config,
          secrets: { ...secrets, 'chectl-backup-sftp-server-key': { 'ssh-privatekey': fs.readFileSync(sshd.unauthorizedKey, 'utf8') } },
          sftp: { knownHostsFile: sshd.knownHosts },
        },
        re: /authenticat|permission denied|publickey/i,
      },
    ];
    for (const c of cases) {
      const seen: StatusEvent[] = [];
      const err = await backupCheInstallation(c.source, cheInstallation({ dbche: MiB }), {
        kdf: TEST_KDF,
        onStatus: (e) => seen.push(e),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      if (c.type) expect(err).toBeInstanceOf(c.type);
      expect(stagesOf(seen)).toEqual([`InProgress:${BACKUP_STAGES.connecting}`, `Failed:${BACKUP_STAGES.connecting}`]);
      expect(seen.at(-1)!.message).toMatch(c.re);
      expect(seen.at(-1)!.message).not.toContain('\n');
    }
    expect(await snapshotCount()).toBe(before);
  }, 120_000);

  it('issue 19: a key secret with any key name plus a known_hosts key is all it takes; a wrong known_hosts refuses', async () => {
    const key = fs.readFileSync(sshd.clientKey, 'utf8');
    const own = (knownHosts: string): SecretMap => ({
      ...secrets,
      'chectl-backup-sftp-server-key': { id_ed25519: key, known_hosts: knownHosts },
    });
    // No sftp options at all: the host key is checked against the secret's known_hosts.
    const out = await backupCheInstallation(
      { configuration: config, secrets: own(fs.readFileSync(sshd.knownHosts, 'utf8')) },
      cheInstallation({ dbche: MiB }),
      {
        kdf: TEST_KDF,
      },
    );
    expect(out.events.at(-1)).toMatchObject({ state: 'Succeeded', stage: '', snapshotId: out.shortId });
    const before = await snapshotCount();
    const seen: StatusEvent[] = [];
    const other = `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3dFqvYQ0p1tQ9sqQ6Jp5O7yXgUj0bq2r8o8g3wJbS\n`;
    const err = await backupCheInstallation({ configuration: config, secrets: own(other) }, cheInstallation({ dbche: MiB }), {
      kdf: TEST_KDF,
      onStatus: (e) => seen.push(e),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(stagesOf(seen)).toEqual([`InProgress:${BACKUP_STAGES.connecting}`, `Failed:${BACKUP_STAGES.connecting}`]);
    expect(seen.at(-1)!.message).toMatch(
      /^Error: host key verification failed: the host key of \[127\.0\.0\.1\]:\d+ .* differs from the "known_hosts" key of secret "chectl-backup-sftp-server-key" line 1;/,
    );
    expect(await snapshotCount()).toBe(before);
  }, 120_000);

  it('issue 19: restic-ts che backup|restore with chectl flags over SFTP (--ssh-key-file, known_hosts checked)', async () => {
    const src = path.join(work.dir, 'che-src');
    for (const d of ['db', 'configmaps', 'secrets']) fs.mkdirSync(path.join(src, d), { recursive: true });
    fs.writeFileSync(path.join(src, 'che-cr.yaml'), 'kind: CheCluster\n', { mode: 0o600 });
    fs.writeFileSync(path.join(src, 'db', 'dbche.sql'), 'COPY x FROM stdin;\n'.repeat(5000), { mode: 0o600 });
    const flags = ['-r', `sftp://${sshd.user}@127.0.0.1:${sshd.port}/${path.join(sshd.home, 'che-cli')}`, '-p', HARD_PASSWORD];
    const key = ['--ssh-key-file', sshd.clientKey, '-o', `sftp.known-hosts=${sshd.knownHosts}`];
    const b = await cliAsync(['che', 'backup', ...flags, ...key, src]);
    expect(b.code, b.stderr).toBe(0);
    const m = /^Backup snapshot ID: ([0-9a-f]{8})$/.exec(b.stdout.trimEnd().split('\n').at(-1)!);
    expect(m, b.stdout).not.toBeNull();
    const target = path.join(work.dir, 'che-restore');
    const r = await cliAsync(['che', 'restore', ...flags, ...key, '-s', m![1]!, '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(fileDigest(path.join(target, 'db', 'dbche.sql'))).toEqual(fileDigest(path.join(src, 'db', 'dbche.sql')));
    expect(fs.readdirSync(target).sort()).toEqual(['che-cr.yaml', 'configmaps', 'db', 'secrets']);
    // An unknown host key refuses, with one line.
    const empty = path.join(work.dir, 'empty_known_hosts');
    fs.writeFileSync(empty, '');
    const refused = await cliAsync(['che', 'backup', ...flags, '--ssh-key-file', sshd.clientKey, '-o', `sftp.known-hosts=${empty}`, src]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/host key verification failed/);
  }, 120_000);

  it('chectl names drive the CLI: SSH_KEY (key text), SSH_KEY_FILE and --ssh-key-file', async () => {
    const src = path.join(work.dir, 'cli-src');
    fs.mkdirSync(path.join(src, 'db'), { recursive: true });
    fs.writeFileSync(path.join(src, 'che-cr.yaml'), 'kind: CheCluster\n');
    fs.writeFileSync(path.join(src, 'db', 'dbche.sql'), 'COPY x FROM stdin;\n'.repeat(5000));
    const base = {
      BACKUP_REPOSITORY_URL: `sftp://${sshd.user}@127.0.0.1:${sshd.port}/${path.join(sshd.home, 'chectl')}`,
      BACKUP_REPOSITORY_PASSWORD: HARD_PASSWORD,
    };
    const kh = ['-o', `sftp.known-hosts=${sshd.knownHosts}`];
    const init = await cliAsync(['init', ...kh], { ...base, SSH_KEY: fs.readFileSync(sshd.clientKey, 'utf8') });
    expect(init.code, init.stderr).toBe(0);
    const b = await cliAsync(['backup', ...kh, src], { ...base, SSH_KEY_FILE: sshd.clientKeyRsa });
    expect(b.code, b.stderr).toBe(0);
    const m = /^Backup snapshot ID: ([0-9a-f]{8})$/.exec(b.stdout.trimEnd().split('\n').at(-1)!);
    expect(m, b.stdout).not.toBeNull();
    const target = path.join(work.dir, 'cli-restore');
    const r = await cliAsync(['restore', ...kh, '--ssh-key-file', sshd.clientKey, m![1]!, '--target', target], base);
    expect(r.code, r.stderr).toBe(0);
    expect(fileDigest(path.join(target, src, 'db', 'dbche.sql'))).toEqual(fileDigest(path.join(src, 'db', 'dbche.sql')));
  }, 120_000);
});
