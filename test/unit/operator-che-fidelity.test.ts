/**
 * Issue 19 without servers: what an operator replacing its restic exec with restic-ts met,
 * each against che-operator / chectl (2021-12): the SFTP key secret and host keys, the
 * CheClusterBackup/Restore status objects, backup-info.yaml and the folders, the backup
 * before an update, chectl's URL → configuration and secrets. Operations over a server are
 * test/backends/operator-che-fidelity.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKUP_STAGES,
  BackupConfigError,
  CHE_BACKUP_STAGES,
  CHECTL_NAMES,
  MemoryBackend,
  RESTORE_STAGES,
  Repository,
  backup,
  backupBeforeUpdateName,
  backupInstallation,
  cheBackupStatus,
  cheRestoreStatus,
  chectlBackupServer,
  compareCheVersions,
  goNowString,
  installationEntries,
  isCheGoingToBeUpdated,
  openServerBackend,
  planBackupBeforeUpdate,
  resolveBackupServer,
  rollbackTarget,
  secretManifests,
  type StatusEvent,
} from '../../src/index.js';
import { sortKeysAsGoYaml } from '../../src/operator/yaml.js';
import { cheInstallation } from '../helpers/operator-helpers.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
const PEM =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';
const KNOWN_HOSTS = '[sftp.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3dFqvYQ0p1tQ9sqQ6Jp5O7yXgUj0bq2r8o8g3wJbS\n';
const sftp = {
  username: 'backup',
  hostname: 'sftp.example.org',
  port: 2222,
  repositoryPath: '/srv/che',
  repositoryPasswordSecretRef: 'pw',
  sshKeySecretRef: 'key',
};
const pw = { 'repo-password': 'secret' };

const tmp = tempDir('restic-ts-che-fidelity-');
afterAll(() => tmp.cleanup());

describe('1. SFTP key secret and host keys', () => {
  it('takes the only key of the secret whatever its name, as Che did, and a known_hosts key beside it', () => {
    const any = resolveBackupServer({ spec: { sftp } }, { pw, key: { id_rsa: PEM } }, { knownHostsFile: '/k' });
    expect(any.sshPrivateKey).toBe(PEM);
    const withHosts = resolveBackupServer({ spec: { sftp } }, { pw, key: { id_rsa: PEM, known_hosts: KNOWN_HOSTS } });
    expect(withHosts.sshPrivateKey).toBe(PEM);
    expect(withHosts.sftp).toEqual({ knownHosts: KNOWN_HOSTS, knownHostsSource: 'the "known_hosts" key of secret "key"' });
    const named = resolveBackupServer({ spec: { sftp } }, { pw, key: { 'ssh-privatekey': PEM, other: 'x', known_hosts: KNOWN_HOSTS } });
    expect(named.sshPrivateKey).toBe(PEM);
    // The backend checks against the secret's text, not a file.
    const be = openServerBackend(withHosts);
    expect(be.location).toBe('sftp://backup@sftp.example.org:2222//srv/che');
  });

  it('refuses to run without a host key to check, saying how to give one; explicit opt-outs work', () => {
    const run =
      (secret: Record<string, string>, opts = {}) =>
      () =>
        resolveBackupServer({ spec: { sftp } }, { pw, key: secret }, opts);
    expect(run({ id_rsa: PEM })).toThrow(
      new BackupConfigError(
        'sftp: nothing to check the host key of sftp.example.org:2222 against: add a "known_hosts" key to secret "key" ' +
          '(the output of `ssh-keyscan -p 2222 sftp.example.org`), or pass knownHostsFile, or insecureHostKey: true to accept any key as Che did',
      ),
    );
    expect(run({ id_rsa: PEM, known_hosts: ' \n' })).toThrow('secret "key" (sftp.sshKeySecretRef): "known_hosts" is empty');
    expect(run({ a: PEM, b: PEM, known_hosts: KNOWN_HOSTS })).toThrow(
      'secret "key" (sftp.sshKeySecretRef) has no "ssh-privatekey" key and more than one other key (a, b)',
    );
    expect(run({ id_rsa: PEM }, { insecureHostKey: true })()).toMatchObject({ sftp: { insecureHostKey: true } });
  });
});

const at = 'Backup is in progress. Start time: 2021-12-15 10:23:45.1 +0000 UTC m=+3.000000001';

describe('2. status objects as Che wrote them', () => {
  it('CheClusterBackup.status: Che\'s stage strings verbatim, field order, omitempty, stage "" and cheVersion on success', () => {
    const seq: StatusEvent[] = [
      { state: 'InProgress', stage: BACKUP_STAGES.internalServer, message: at },
      { state: 'InProgress', stage: BACKUP_STAGES.connecting, message: at },
      { state: 'InProgress', stage: BACKUP_STAGES.collecting, message: at },
      { state: 'InProgress', stage: BACKUP_STAGES.sending, message: at },
      { state: 'Succeeded', stage: '', message: 'Backup successfully finished at x', snapshotId: '0a1b2c3d', cheVersion: '7.41.2' },
    ];
    expect(seq.map((e) => JSON.stringify(cheBackupStatus(e)))).toEqual([
      `{"message":"${at}","state":"InProgress","stage":"Setting up internal backup server"}`,
      `{"message":"${at}","state":"InProgress","stage":"Connecting to backup repository"}`,
      `{"message":"${at}","state":"InProgress","stage":"Collecting Che installation data"}`,
      `{"message":"${at}","state":"InProgress","stage":"Sending backup shapshot to backup server"}`,
      '{"message":"Backup successfully finished at x","state":"Succeeded","snapshotId":"0a1b2c3d","cheVersion":"7.41.2"}',
    ]);
    expect(Object.values(CHE_BACKUP_STAGES)).toEqual([
      'Setting up internal backup server',
      'Connecting to backup repository',
      'Collecting Che installation data',
      'Sending backup shapshot to backup server',
    ]);
    expect(cheBackupStatus(seq[3]!, { spelling: 'corrected' }).stage).toBe('Sending backup snapshot to backup server');
    const failed: StatusEvent = { state: 'Failed', stage: BACKUP_STAGES.sending, message: 'Error: x', snapshotId: 'ffffffff' };
    expect(cheBackupStatus(failed)).toEqual({ message: 'Error: x', state: 'Failed', stage: 'Sending backup shapshot to backup server' });
  });

  it("CheClusterRestore.status: message, stage, state in Go order; Che's eight stages", () => {
    expect(JSON.stringify(cheRestoreStatus({ state: 'InProgress', stage: RESTORE_STAGES.downloading, message: 'm' }))).toBe(
      '{"message":"m","stage":"Downloading backup from backup server","state":"InProgress"}',
    );
    expect(JSON.stringify(cheRestoreStatus({ state: 'Succeeded', stage: '', message: 'Restore successfully finished' }))).toBe(
      '{"message":"Restore successfully finished","state":"Succeeded"}',
    );
    expect(Object.values(RESTORE_STAGES)).toEqual([
      'Downloading backup from backup server',
      'Requesting deletion of existing Che',
      'Cleaning up existing Che',
      'Restoring Che related cluster objects',
      'Restoring Che Custom Resource',
      'Waiting until clean Che is ready',
      'Restoring Che database',
      'Waiting until Che is ready',
    ]);
  });

  it("messages carry Go's time.Now().String()", () => {
    expect(goNowString()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? [+-]\d{4} [A-Z0-9+-]+ m=\+\d+\.\d{9}$/);
    expect(goNowString(new Date(Date.UTC(2021, 11, 15, 10, 23, 45, 120)))).toMatch(/^2021-12-15 \d\d:23:45\.12 [+-]\d{4} /);
  });
});

describe('4. backup-info.yaml and the folders', () => {
  it('writes sigs.k8s.io/yaml output: keys sorted, Go time text, appsDomain "" when unknown', () => {
    const info = (i: object) => {
      const e = installationEntries({ ...cheInstallation({ dbche: 10 }), info: i as never }).find((x) => x.path === 'backup-info.yaml')!;
      return e.content as string;
    };
    expect(
      info({
        cheVersion: '7.41.2',
        infrastructure: 'Kubernetes',
        appsDomain: '192.168.49.2.nip.io',
        namespace: 'eclipse-che',
        creationDate: '2021-12-15 10:23:45.123456789 +0000 UTC m=+12.345678901',
      }),
    ).toBe(
      'appsDomain: 192.168.49.2.nip.io\ncheVersion: 7.41.2\ncreationDate: 2021-12-15 10:23:45.123456789 +0000 UTC m=+12.345678901\n' +
        'infrastructure: Kubernetes\nmetadataFileVersion: v1\nnamespace: eclipse-che\n',
    );
    expect(info({ cheVersion: '7.41.2', infrastructure: 'Openshift 4', namespace: 'che' })).toMatch(
      /^appsDomain: ""\ncheVersion: 7\.41\.2\ncreationDate: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* [+-]\d{4} \S+ m=\+\d+\.\d{9}\ninfrastructure: Openshift 4\nmetadataFileVersion: v1\nnamespace: che\n$/,
    );
    expect(Object.keys(sortKeysAsGoYaml({ b10: 1, b2: 1, a1: 1, a: 1, B: 1, _x: 1 }))).toEqual(['_x', 'B', 'a', 'a1', 'b2', 'b10']);
  });

  it('always stores db/, configmaps/ and secrets/ as 0755 directories, even empty', async () => {
    const repo = await Repository.init(new MemoryBackend(), 'pw', { kdf: KDF });
    const inst = { ...cheInstallation({}), configMaps: [], secrets: [] };
    const r = await backupInstallation(repo, inst, { hostname: 'h' });
    const nodes = await repo.loadTree(r.snapshot.tree!);
    const dirs = nodes.filter((n) => n.type === 'dir').map((n) => [Buffer.from(n.name).toString(), (n.mode ?? 0) & 0o777]);
    expect(dirs).toEqual([
      ['configmaps', 0o755],
      ['db', 0o755],
      ['secrets', 0o755],
    ]);
    for (const n of nodes.filter((x) => x.type === 'dir')) expect(await repo.loadTree(n.subtree!)).toEqual([]);
  });

  it('backs up a directory as `cd dir && restic backup .`: entries at the tree root, paths [dir]', async () => {
    const dir = path.join(tmp.dir, 'che-backup-data');
    fs.mkdirSync(path.join(dir, 'db'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'che-cr.yaml'), 'kind: CheCluster\n');
    const repo = await Repository.init(new MemoryBackend(), 'pw', { kdf: KDF });
    const r = await backup(repo, ['.'], { cwd: dir, hostname: 'h' });
    expect(r.snapshot.paths).toEqual([dir]);
    const names = (await repo.loadTree(r.snapshot.tree!)).map((n) => Buffer.from(n.name).toString());
    expect(names).toEqual(['che-cr.yaml', 'db']);
  });
});

describe('5. backup before an update', () => {
  const cfg = (name: string, annotated?: string) => ({
    metadata: { name, ...(annotated ? { annotations: { 'che.eclipse.org/backup-before-update': annotated } } : {}) },
    spec: {},
  });

  it("names the backup as Che and chectl; compares versions as blang/semver; Che's update rule", () => {
    expect(backupBeforeUpdateName('7.42.0')).toBe('backup-before-update-to-7-42-0');
    expect(compareCheVersions('7.42.0', '7.41.3')).toBe(1);
    expect(compareCheVersions('7.9.0', '7.10.0')).toBe(-1);
    expect(compareCheVersions('7.42.0-rc.1', '7.42.0')).toBe(-1);
    expect(compareCheVersions('7.42.0-rc.10', '7.42.0-rc.9')).toBe(1);
    expect(compareCheVersions('7.42.0-1', '7.42.0-alpha')).toBe(-1);
    expect(compareCheVersions('7.42.0+build.1', '7.42.0')).toBe(0);
    for (const bad of ['v7.42.0', '7.42', '07.42.0', 'next', '']) expect(compareCheVersions(bad, '7.0.0')).toBeUndefined();
    expect(isCheGoingToBeUpdated('7.41.2', '7.42.0')).toBe(true);
    expect(isCheGoingToBeUpdated('7.42.0', '7.41.2')).toBe(false);
    expect(isCheGoingToBeUpdated('7.42.0', '7.42.0')).toBe(false);
    expect(isCheGoingToBeUpdated('', '7.42.0')).toBe(false);
    expect(isCheGoingToBeUpdated('next', '7.42.0')).toBe(false);
    expect(isCheGoingToBeUpdated('v7.41.2', '7.42.0')).toBe(false); // not SemVer: Che warned and went on
  });

  it('plans the CheClusterBackup: the only configuration, the first annotated one, else the internal server', () => {
    expect(planBackupBeforeUpdate('7.42.0', '7.42.0', [cfg('a')])).toBeUndefined();
    expect(planBackupBeforeUpdate('7.41.2', '7.42.0', [cfg('a')], 'eclipse-che')).toEqual({
      apiVersion: 'org.eclipse.che/v1',
      kind: 'CheClusterBackup',
      metadata: { name: 'backup-before-update-to-7-42-0', namespace: 'eclipse-che' },
      spec: { backupServerConfigRef: 'a' },
    });
    const two = [cfg('x'), cfg('first', 'true'), cfg('second', 'true')];
    expect(planBackupBeforeUpdate('7.41.2', '7.42.0', two)!.spec).toEqual({ backupServerConfigRef: 'first' });
    expect(planBackupBeforeUpdate('7.41.2', '7.42.0', [cfg('x', 'false'), cfg('y')])!.spec).toEqual({ useInternalBackupServer: true });
    expect(planBackupBeforeUpdate('7.41.2', '7.42.0', [])!.spec).toEqual({ useInternalBackupServer: true });
  });

  it("checks a rollback's backup as chectl did", () => {
    const name = backupBeforeUpdateName('7.42.0');
    expect(rollbackTarget(name, { status: { state: 'Succeeded', snapshotId: '0a1b2c3d', cheVersion: '7.41.2' } })).toEqual({
      snapshotId: '0a1b2c3d',
      cheVersion: '7.41.2',
    });
    expect(() => rollbackTarget(name, undefined)).toThrow('Cannot find backup: backup-before-update-to-7-42-0');
    expect(() => rollbackTarget(name, { status: { state: 'Failed' } })).toThrow(
      "Backup with name 'backup-before-update-to-7-42-0' is not successful",
    );
    expect(() => rollbackTarget(name, { status: { state: 'Succeeded', snapshotId: 'x' } })).toThrow(
      "Backup CR 'backup-before-update-to-7-42-0' missing Che version",
    );
  });
});

describe("6. chectl's restic URL → configuration and secrets", () => {
  it('REST: port, protocol, path, credentials from flags or the URL; resolves to the URL it came from', () => {
    const a = chectlBackupServer('rest:http://127.0.0.1:8000/che', { repositoryPassword: 'p w', username: 'u', password: 'x' });
    expect(a.configuration).toEqual({
      apiVersion: 'org.eclipse.che/v1',
      kind: 'CheBackupServerConfiguration',
      metadata: { name: 'eclipse-che-backup-server-config' },
      spec: {
        rest: {
          protocol: 'http',
          hostname: '127.0.0.1',
          port: 8000,
          repositoryPath: 'che',
          repositoryPasswordSecretRef: 'chectl-backup-repository-password',
          credentialsSecretRef: 'chectl-backup-rest-server-credentials',
        },
      },
    });
    expect(a.secrets).toEqual({
      [CHECTL_NAMES.repoPasswordSecret]: { 'repo-password': 'p w' },
      [CHECTL_NAMES.restCredentialsSecret]: { username: 'u', password: 'x' },
    });
    expect(resolveBackupServer(a.configuration, a.secrets)).toMatchObject({
      location: 'rest:http://127.0.0.1:8000/che/',
      username: 'u',
      password: 'x',
    });
    const b = chectlBackupServer('rest:https://us%40r:p%3Ass@backup.example.org/che/x/', { repositoryPassword: 'p' });
    expect(b.configuration.spec.rest).toMatchObject({ protocol: 'https', port: 443, repositoryPath: 'che/x/' });
    expect(b.secrets[CHECTL_NAMES.restCredentialsSecret]).toEqual({ username: 'us@r', password: 'p:ss' });
    expect(resolveBackupServer(b.configuration, b.secrets).location).toBe('rest:https://backup.example.org:443/che/x/');
    expect(chectlBackupServer('rest:backup.example.org:9000/', { repositoryPassword: 'p' }).configuration.spec.rest).toMatchObject({
      protocol: 'https',
      port: 9000,
      repositoryPath: '',
    });
    expect(secretManifests(a.secrets, 'eclipse-che')[0]).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'chectl-backup-repository-password', namespace: 'eclipse-che' },
      stringData: { 'repo-password': 'p w' },
    });
  });

  it('S3 and SFTP as chectl parsed them', () => {
    const s3 = chectlBackupServer('s3:http://127.0.0.1:7480/che-bucket/repo', {
      repositoryPassword: 'p',
      awsAccessKeyId: 'A',
      awsSecretAccessKey: 'S',
    });
    expect(s3.configuration.spec.awss3).toEqual({
      repositoryPath: 'che-bucket/repo',
      repositoryPasswordSecretRef: 'chectl-backup-repository-password',
      awsAccessKeySecretRef: 'chectl-aws-credentials',
      hostname: '127.0.0.1',
      protocol: 'http',
      port: 7480,
    });
    expect(s3.secrets['chectl-aws-credentials']).toEqual({ awsAccessKeyId: 'A', awsSecretAccessKey: 'S' });
    expect(resolveBackupServer(s3.configuration, s3.secrets).location).toBe('s3:http://127.0.0.1:7480/che-bucket/repo');
    const f1 = chectlBackupServer('sftp:user@my-server.net:/srv/sftp/che-data', { repositoryPassword: 'p', sshKey: PEM });
    expect(f1.configuration.spec.sftp).toEqual({
      username: 'user',
      hostname: 'my-server.net',
      repositoryPath: '/srv/sftp/che-data',
      repositoryPasswordSecretRef: 'chectl-backup-repository-password',
      sshKeySecretRef: 'chectl-backup-sftp-server-key',
    });
    expect(f1.secrets['chectl-backup-sftp-server-key']).toEqual({ 'ssh-privatekey': PEM });
    const f2 = chectlBackupServer('sftp://user@host:1234//srv/repo', { repositoryPassword: 'p', sshKey: PEM });
    expect(f2.configuration.spec.sftp).toMatchObject({ port: 1234, repositoryPath: '/srv/repo' });
    expect(resolveBackupServer(f2.configuration, f2.secrets, { insecureHostKey: true }).location).toBe('sftp://user@host:1234//srv/repo');
  });

  it("refuses what chectl refused, with chectl's words, and warns about ignored credentials", () => {
    const p = { repositoryPassword: 'p' };
    expect(() => chectlBackupServer('local:/x', p)).toThrow("Unrecognized backup server protocol in 'local:/x' url");
    expect(() => chectlBackupServer('rest:http://h/c', { ...p, username: 'u' })).toThrow('password parameter should be provided');
    expect(() => chectlBackupServer('rest:http://h/c', { ...p, password: 'x' })).toThrow('username parameter should be provided');
    expect(() => chectlBackupServer('rest:http://h/c?x', p)).toThrow("Invalid REST server url: 'rest:http://h/c?x'");
    expect(() => chectlBackupServer('rest:http://nocolon@h/c', p)).toThrow("Invalid REST server url: 'rest:http://nocolon@h/c'");
    expect(() => chectlBackupServer('s3:s3.amazonaws.com/bucket', { ...p, awsAccessKeyId: 'A' })).toThrow(
      'aws-secret-access-key should be provided',
    );
    expect(() => chectlBackupServer('s3:s3.amazonaws.com/my.bucket', { ...p, awsAccessKeyId: 'A', awsSecretAccessKey: 'S' })).toThrow(
      "Invalid S3 server url: 's3:s3.amazonaws.com/my.bucket'",
    );
    expect(() => chectlBackupServer('sftp:u@h:/p', p)).toThrow('SSH key should be provided via ssh-key or ssh-key-file');
    expect(() => chectlBackupServer('rest:http://h/c', { repositoryPassword: '' })).toThrow('Parameter repository-password required');
    expect(chectlBackupServer('rest:http://h/c', { ...p, sshKey: PEM, awsAccessKeyId: 'A' }).warnings).toEqual([
      'aws-access-key-id parameter is ignored',
      'ssh-key parameter is ignored',
    ]);
  });
});
