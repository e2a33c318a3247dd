/**
 * Che's automatic backup before an update (che-operator controllers/che/backup.go, PRs #1055
 * and #1097) and chectl's `server:restore --rollback` (src/commands/server/restore.ts): when
 * the operator's Che version is semver-greater than the deployed one, a CheClusterBackup
 * named `backup-before-update-to-<x-y-z>` is created and awaited (the update proceeds even if
 * it failed); a rollback restores that backup's snapshot and Che version.
 */
import { UsageError } from '../errors.js';
import type { BackupServerConfiguration } from './config.js';
import type { CheClusterBackupStatus } from './status.js';

/** The annotation that marks the configuration for "backup before update". */
export const BACKUP_BEFORE_UPDATE_ANNOTATION = 'che.eclipse.org/backup-before-update';

export type BackupBeforeUpdateChoice =
  | { kind: 'configuration'; configuration: BackupServerConfiguration; reason: 'only' | 'annotated' }
  | { kind: 'internal'; reason: 'none' | 'not-annotated' };

/**
 * Che's rule: the only configuration; else the first one annotated
 * `che.eclipse.org/backup-before-update: "true"` (in list order); else the internal server.
 */
export function chooseBackupBeforeUpdateServer(configurations: BackupServerConfiguration[]): BackupBeforeUpdateChoice {
  if (configurations.length === 1) return { kind: 'configuration', configuration: configurations[0]!, reason: 'only' };
  const marked = configurations.find((c) => c.metadata?.annotations?.[BACKUP_BEFORE_UPDATE_ANNOTATION] === 'true');
  if (marked) return { kind: 'configuration', configuration: marked, reason: 'annotated' };
  return { kind: 'internal', reason: configurations.length === 0 ? 'none' : 'not-annotated' };
}

/** `backup-before-update-to-7-42-0` for 7.42.0 (Che's and chectl's name). */
export function backupBeforeUpdateName(version: string): string {
  return 'backup-before-update-to-' + version.replace(/\./g, '-');
}

interface Semver {
  core: [bigint, bigint, bigint];
  pre: string[];
}

const NUM = '(0|[1-9][0-9]*)';
const PRE_PART = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const SEMVER = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}(?:-(${PRE_PART}(?:\\.${PRE_PART})*))?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`);

/**
 * Strict SemVer 2.0 as blang/semver's Make (what Che used): no "v" prefix, no leading zeros;
 * undefined when it does not parse. (npm's semver would accept "v7.1.0"; Che did not.)
 */
function parseSemver(v: string): Semver | undefined {
  const m = SEMVER.exec(v);
  if (!m) return undefined;
  return { core: [BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)], pre: m[4] ? m[4].split('.') : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (!a.length || !b.length) return b.length - a.length; // a release ranks above its pre-releases
  for (let i = 0; i < a.length && i < b.length; i++) {
    const an = /^[0-9]+$/.test(a[i]!);
    const bn = /^[0-9]+$/.test(b[i]!);
    if (an && bn && a[i] !== b[i]) return BigInt(a[i]!) < BigInt(b[i]!) ? -1 : 1;
    if (an !== bn) return an ? -1 : 1; // numeric identifiers rank below alphanumeric ones
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

/** SemVer precedence of two versions; undefined when either does not parse. */
export function compareCheVersions(a: string, b: string): number | undefined {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1;
  return Math.sign(comparePre(x.pre, y.pre));
}

/**
 * Che's isCheGoingToBeUpdated: false for an empty or "next" deployed version, an equal one,
 * or either not being SemVer (Che logged a warning and went on without a backup).
 */
export function isCheGoingToBeUpdated(deployedCheVersion: string, operatorCheVersion: string): boolean {
  if (deployedCheVersion === '' || deployedCheVersion === 'next' || deployedCheVersion === operatorCheVersion) return false;
  return (compareCheVersions(operatorCheVersion, deployedCheVersion) ?? 0) > 0;
}

/** The CheClusterBackup custom resource Che created before an update. */
export interface CheClusterBackupManifest {
  apiVersion: 'org.eclipse.che/v1';
  kind: 'CheClusterBackup';
  metadata: { name: string; namespace?: string };
  spec: { useInternalBackupServer?: boolean; backupServerConfigRef?: string };
}

/**
 * The backup to take before updating from `deployedCheVersion` to `operatorCheVersion`, or
 * undefined when Che would not take one.
 */
export function planBackupBeforeUpdate(
  deployedCheVersion: string,
  operatorCheVersion: string,
  configurations: BackupServerConfiguration[],
  namespace?: string,
): CheClusterBackupManifest | undefined {
  if (!isCheGoingToBeUpdated(deployedCheVersion, operatorCheVersion)) return undefined;
  const choice = chooseBackupBeforeUpdateServer(configurations);
  let spec: CheClusterBackupManifest['spec'] = { useInternalBackupServer: true };
  if (choice.kind === 'configuration') {
    const name = choice.configuration.metadata?.name;
    if (!name) throw new UsageError('backup before update: the chosen backup server configuration has no metadata.name');
    spec = { backupServerConfigRef: name };
  }
  const metadata = { name: backupBeforeUpdateName(operatorCheVersion), ...(namespace ? { namespace } : {}) };
  return { apiVersion: 'org.eclipse.che/v1', kind: 'CheClusterBackup', metadata, spec };
}

/**
 * chectl's `--rollback` checks on `backup-before-update-to-<operator version>`: it must have
 * succeeded and carry the snapshot ID and the Che version to go back to.
 */
export function rollbackTarget(
  name: string,
  backup: { status?: CheClusterBackupStatus } | undefined,
): { snapshotId: string; cheVersion: string } {
  if (!backup) throw new UsageError(`Cannot find backup: ${name}`);
  if (backup.status?.state !== 'Succeeded') throw new UsageError(`Backup with name '${name}' is not successful`);
  if (!backup.status.cheVersion) throw new UsageError(`Backup CR '${name}' missing Che version`);
  if (!backup.status.snapshotId) throw new UsageError(`Backup CR '${name}' missing snapshot ID`);
  return { snapshotId: backup.status.snapshotId, cheVersion: backup.status.cheVersion };
}
