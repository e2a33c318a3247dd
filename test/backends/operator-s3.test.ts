/**
 * Issue 7 over S3: a real Ceph radosgw on 127.0.0.1 (one cluster for the file), driven from
 * an `awss3` CheBackupServerConfiguration and its secrets; restic 0.14 restores what we wrote.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_STAGES,
  type BackupServerConfiguration,
  type SecretMap,
  type StatusEvent,
  WrongPasswordError,
  backupCheInstallation,
  resolveBackupServer,
  restoreCheInstallation,
} from '../../src/index.js';
import { type CephCluster, startCeph } from '../helpers/ceph.js';
import { hasRestic } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';
import {
  HARD_PASSWORD,
  MiB,
  TEST_KDF,
  cheInstallation,
  expectRestoredDir,
  expectRestoredInstallation,
  expectedDumps,
  resticAsyncOk,
  stagesOf,
} from '../helpers/operator-helpers.js';

let ceph: CephCluster;
let work: { dir: string; cleanup: () => void };
let config: BackupServerConfiguration;
let secrets: SecretMap;
let dumps: Awaited<ReturnType<typeof expectedDumps>>;

beforeAll(async () => {
  expect(hasRestic(), 'restic 0.14 must be installed (apt-get install restic)').toBe(true);
  work = tempDir('restic-ts-op-s3-');
  ceph = await startCeph();
  const url = new URL(ceph.endpoint);
  config = {
    metadata: { name: 'eclipse-che-backup-server-config' },
    spec: {
      awss3: {
        protocol: 'http',
        hostname: url.hostname,
        port: Number(url.port),
        repositoryPath: 'che-backups/cluster-1',
        repositoryPasswordSecretRef: 'chectl-backup-repository-password',
        awsAccessKeySecretRef: 'chectl-aws-credentials',
      },
    },
  };
  secrets = {
    'chectl-backup-repository-password': { 'repo-password': HARD_PASSWORD },
    'chectl-aws-credentials': { awsAccessKeyId: ceph.accessKey, awsSecretAccessKey: ceph.secretKey },
  };
  dumps = await expectedDumps();
}, 180_000);

afterAll(async () => {
  await ceph?.stop();
  work?.cleanup();
});

describe('Che installation over S3 (Ceph radosgw)', () => {
  let shortId = '';

  it('backs up from a configuration object (bucket created), restores by latest and by short ID byte-identically', async () => {
    const out = await backupCheInstallation({ configuration: config, secrets }, cheInstallation(), {
      kdf: TEST_KDF,
      hostname: 'che-operator',
    });
    shortId = out.shortId;
    expect(stagesOf(out.events)).toEqual([
      `InProgress:${BACKUP_STAGES.connecting}`,
      `InProgress:${BACKUP_STAGES.collecting}`,
      `InProgress:${BACKUP_STAGES.sending}`,
      `Succeeded:`,
    ]);
    expect(out.events.at(-1)!.snapshotId).toBe(shortId);

    const latest = await restoreCheInstallation({ configuration: config, secrets }, 'latest');
    try {
      expect(latest.installation.shortId).toBe(shortId);
      await expectRestoredInstallation(latest.installation, dumps);
    } finally {
      await latest.close();
    }
    const target = path.join(work.dir, 'ours');
    const byId = await restoreCheInstallation({ configuration: config, secrets }, shortId, { target });
    await byId.close();
    expectRestoredDir(target, dumps);
  }, 300_000);

  it('restic 0.14 restores the same snapshot with identical files', async () => {
    const server = resolveBackupServer(config, secrets);
    const target = path.join(work.dir, 'restic');
    await resticAsyncOk(server.location, HARD_PASSWORD, ['restore', shortId, '--target', target], server.env);
    expectRestoredDir(target, dumps);
  }, 240_000);

  it('a wrong repository password or a wrong secret key fails with a human message and no new snapshot', async () => {
    const seen: StatusEvent[] = [];
    const wrong = { ...secrets, 'chectl-backup-repository-password': { 'repo-password': 'not it' } };
    const err = await backupCheInstallation({ configuration: config, secrets: wrong }, cheInstallation({ dbche: MiB }), {
      kdf: TEST_KDF,
      onStatus: (e) => seen.push(e),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WrongPasswordError);
    expect(stagesOf(seen)).toEqual([`InProgress:${BACKUP_STAGES.connecting}`, `Failed:${BACKUP_STAGES.connecting}`]);
    expect(seen.at(-1)!.message).toBe(
      `Error: the repository password is wrong: no key of the repository at ${resolveBackupServer(config, secrets).location} opens with it`,
    );

    const denied: StatusEvent[] = [];
    const badKey = { ...secrets, 'chectl-aws-credentials': { awsAccessKeyId: ceph.accessKey, awsSecretAccessKey: 'wrong-secret' } };
    await expect(
      backupCheInstallation({ configuration: config, secrets: badKey }, cheInstallation({ dbche: MiB }), {
        kdf: TEST_KDF,
        onStatus: (e) => denied.push(e),
      }),
    ).rejects.toThrow();
    expect(denied.at(-1)!.state).toBe('Failed');
    expect(denied.at(-1)!.message).toMatch(/^Error: S3: .*(denied|Signature|credentials)/i);
    expect(denied.at(-1)!.message).not.toContain('\n');

    const server = resolveBackupServer(config, secrets);
    const snaps = JSON.parse(await resticAsyncOk(server.location, HARD_PASSWORD, ['snapshots', '--json'], server.env)) as Array<{
      short_id: string;
    }>;
    expect(snaps.map((s) => s.short_id)).toEqual([shortId]);
  }, 120_000);
});
