/**
 * chectl's `server:backup` / `server:restore` turned a restic URL plus credentials into a
 * CheBackupServerConfiguration and `chectl-*` secrets (chectl src/api/backup-restore.ts
 * parseBackupServerConfig / provisionCredentialsSecrets and src/commands/server/backup.ts
 * getBackupServerConfiguration, 2021-12). This does the same without a cluster: the objects
 * come back for the caller to apply, or to resolve and use directly.
 * Differences, on purpose: URLs must match as a whole (chectl ignored trailing junk), URL
 * credentials are percent-decoded (restic decoded them when Che embedded them in its URL), and
 * a REST URL without a port gets the scheme's port (80/443), which is what Che's operator
 * then used; our configuration default for a missing port is 8000 (see config.ts).
 */
import { UsageError } from '../errors.js';
import type { BackupServerConfiguration, SecretMap } from './config.js';

/** The object names chectl used. */
export const CHECTL_NAMES = {
  configuration: 'eclipse-che-backup-server-config',
  repoPasswordSecret: 'chectl-backup-repository-password',
  restCredentialsSecret: 'chectl-backup-rest-server-credentials',
  awsCredentialsSecret: 'chectl-aws-credentials',
  sshKeySecret: 'chectl-backup-sftp-server-key',
  backupCr: 'eclipse-che-backup',
  restoreCr: 'eclipse-che-restore',
} as const;

/** chectl's flags (and environment variables) that carry credentials. */
export interface ChectlCredentials {
  /** `-p, --repository-password` (BACKUP_REPOSITORY_PASSWORD): the password itself. */
  repositoryPassword: string;
  /** `--username` / `--password` (REST_SERVER_USERNAME / REST_SERVER_PASSWORD). */
  username?: string;
  password?: string;
  /** `--aws-access-key-id` / `--aws-secret-access-key` (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  /** `--ssh-key` (SSH_KEY), or the trimmed content of `--ssh-key-file` (SSH_KEY_FILE). */
  sshKey?: string;
}

export interface ChectlBackupServer {
  configuration: BackupServerConfiguration & { apiVersion: 'org.eclipse.che/v1'; kind: 'CheBackupServerConfiguration' };
  /** Secret name → data, as provisionCredentialsSecrets wrote them. */
  secrets: SecretMap;
  /** chectl's warnings ("ssh-key parameter is ignored"). */
  warnings: string[];
}

const FLAG_OF: Record<keyof Omit<ChectlCredentials, 'repositoryPassword'>, string> = {
  username: 'username',
  password: 'password',
  awsAccessKeyId: 'aws-access-key-id',
  awsSecretAccessKey: 'aws-secret-access-key',
  sshKey: 'ssh-key',
};

type ServerType = 'rest' | 's3' | 'sftp';

function serverType(url: string): ServerType {
  if (url.startsWith('rest:')) return 'rest';
  if (url.startsWith('s3:')) return 's3';
  if (url.startsWith('sftp:')) return 'sftp';
  throw new UsageError(`Unrecognized backup server protocol in '${url}' url`);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function portOf(s: string | undefined): number | undefined {
  return s === undefined ? undefined : Number(s);
}

/** getBackupServerConfiguration's checks of which credentials go with which server. */
function checkCredentials(type: ServerType, c: ChectlCredentials, warnings: string[]): void {
  if (!c.repositoryPassword) throw new UsageError('Parameter repository-password required');
  let used: Array<keyof typeof FLAG_OF>;
  if (type === 'rest') {
    if (!!c.username !== !!c.password) throw new UsageError(`${c.username ? 'password' : 'username'} parameter should be provided`);
    used = ['username', 'password'];
  } else if (type === 'sftp') {
    if (!c.sshKey) throw new UsageError('SSH key should be provided via ssh-key or ssh-key-file');
    used = ['sshKey'];
  } else {
    if (!c.awsAccessKeyId) throw new UsageError('aws-access-key-id should be provided');
    if (!c.awsSecretAccessKey) throw new UsageError('aws-secret-access-key should be provided');
    used = ['awsAccessKeyId', 'awsSecretAccessKey'];
  }
  for (const k of Object.keys(FLAG_OF) as Array<keyof typeof FLAG_OF>) {
    if (c[k] && !used.includes(k)) warnings.push(`${FLAG_OF[k]} parameter is ignored`);
  }
}

const REST_URL =
  /^rest:(?:\/\/)?(?:(?<protocol>https?):\/\/)?(?:(?<credentials>.+)@)?(?<hostname>[\w.-]+)(?::(?<port>\d{1,5}))?(?:\/(?<path>[\w\-./]*))?$/;
const S3_URL = /^s3:(?:\/\/)?(?:(?<protocol>https?):\/\/)?(?<hostname>[\w.-]+)?(?::(?<port>\d{1,5}))?\/(?<path>[\w\-/]+)$/;
const SFTP_URL = /^sftp:(?:\/\/)?(?<username>\w+)@(?<hostname>[\w.-]+):(?:(?<port>\d{1,5})\/)?(?<path>[\w\-/]+)$/;

/**
 * A restic URL and chectl's credentials → the CheBackupServerConfiguration and secrets chectl
 * created. Throws UsageError with chectl's message for what chectl refused.
 */
export function chectlBackupServer(url: string, creds: ChectlCredentials, namespace?: string): ChectlBackupServer {
  const type = serverType(url);
  const warnings: string[] = [];
  checkCredentials(type, creds, warnings);
  const N = CHECTL_NAMES;
  const secrets: SecretMap = { [N.repoPasswordSecret]: { 'repo-password': creds.repositoryPassword } };
  const metadata = { name: N.configuration, ...(namespace ? { namespace } : {}) };
  const configuration: ChectlBackupServer['configuration'] = {
    apiVersion: 'org.eclipse.che/v1',
    kind: 'CheBackupServerConfiguration',
    metadata,
    spec: {},
  };
  if (type === 'rest') {
    const g = REST_URL.exec(url)?.groups;
    if (!g) throw new UsageError(`Invalid REST server url: '${url}'`);
    let { username, password } = creds;
    if (g.credentials !== undefined) {
      const colon = g.credentials.indexOf(':');
      if (colon < 0) throw new UsageError(`Invalid REST server url: '${url}'`);
      username = decode(g.credentials.slice(0, colon));
      password = decode(g.credentials.slice(colon + 1));
    }
    const protocol = g.protocol ?? 'https'; // Che's default
    configuration.spec.rest = {
      protocol,
      hostname: g.hostname!,
      port: portOf(g.port) ?? (protocol === 'http' ? 80 : 443),
      repositoryPath: g.path ?? '',
      repositoryPasswordSecretRef: N.repoPasswordSecret,
      ...(username && password ? { credentialsSecretRef: N.restCredentialsSecret } : {}),
    };
    if (username && password) secrets[N.restCredentialsSecret] = { username, password };
  } else if (type === 's3') {
    const g = S3_URL.exec(url)?.groups;
    if (!g) throw new UsageError(`Invalid S3 server url: '${url}'`);
    configuration.spec.awss3 = {
      repositoryPath: g.path!,
      repositoryPasswordSecretRef: N.repoPasswordSecret,
      awsAccessKeySecretRef: N.awsCredentialsSecret,
      ...(g.hostname ? { hostname: g.hostname } : {}),
      ...(g.protocol ? { protocol: g.protocol } : {}),
      ...(g.port ? { port: Number(g.port) } : {}),
    };
    secrets[N.awsCredentialsSecret] = { awsAccessKeyId: creds.awsAccessKeyId!, awsSecretAccessKey: creds.awsSecretAccessKey! };
  } else {
    const g = SFTP_URL.exec(url)?.groups;
    if (!g) throw new UsageError(`Invalid SFTP server url: '${url}'`);
    configuration.spec.sftp = {
      username: g.username!,
      hostname: g.hostname!,
      repositoryPath: g.path!,
      repositoryPasswordSecretRef: N.repoPasswordSecret,
      sshKeySecretRef: N.sshKeySecret,
      ...(g.port ? { port: Number(g.port) } : {}),
    };
    secrets[N.sshKeySecret] = { 'ssh-privatekey': creds.sshKey! };
  }
  return { configuration, secrets, warnings };
}

/** The secrets as Kubernetes objects (`stringData`, as chectl sent them). */
export function secretManifests(secrets: SecretMap, namespace?: string): Array<Record<string, unknown>> {
  return Object.entries(secrets).map(([name, data]) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    stringData: { ...data },
  }));
}
