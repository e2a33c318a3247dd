/**
 * Backup server configurations as Che's `CheBackupServerConfiguration.spec` had them, plus
 * the secret values its references point at, validated and turned into a restic location
 * and the credentials to open it — without a shell, a URL-embedded password or host-key
 * checking switched off.
 */
import { UsageError } from '../errors.js';

export interface RestServerSpec {
  /** `http` or `https` (default https, as in Che). */
  protocol?: string;
  hostname: string;
  /** Default 8000 (rest-server's port), as in Che. */
  port?: number;
  repositoryPath?: string;
  repositoryPasswordSecretRef: string;
  /** Secret with `username` and `password` (HTTP basic auth); optional. */
  credentialsSecretRef?: string;
}

export interface AwsS3ServerSpec {
  /** `http` or `https` (default https). */
  protocol?: string;
  /** Default `s3.amazonaws.com`. */
  hostname?: string;
  port?: number;
  /** `bucket[/prefix]`; the bucket is created when missing. */
  repositoryPath: string;
  repositoryPasswordSecretRef: string;
  /** Secret with `awsAccessKeyId` and `awsSecretAccessKey`. */
  awsAccessKeySecretRef: string;
}

export interface SftpServerSpec {
  username: string;
  hostname: string;
  /** Default 22. */
  port?: number;
  /** Absolute (`/srv/backups/che`) or relative to the login directory. */
  repositoryPath: string;
  repositoryPasswordSecretRef: string;
  /**
   * Secret with `ssh-privatekey` (PEM or OpenSSH private key); as in Che, a secret whose only
   * key has another name is taken too. An optional `known_hosts` key holds the server's host key.
   */
  sshKeySecretRef: string;
}

/** `CheBackupServerConfiguration.spec`: exactly one server section. */
export interface BackupServerSpec {
  rest?: RestServerSpec;
  awss3?: AwsS3ServerSpec;
  sftp?: SftpServerSpec;
}

/** The custom resource itself (only what matters here). */
export interface BackupServerConfiguration {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec: BackupServerSpec;
}

/** Secret name → its data (decoded values, not base64). */
export type SecretMap = Record<string, Record<string, string>>;

/**
 * Host-key checking for SFTP. Che's configuration has no field for it and Che switched the
 * check off (`StrictHostKeyChecking no`, che-operator pkg/backup_servers/sftp_server.go); we
 * insist on one of: a `known_hosts` key in the SSH key secret, these options.
 */
export interface SftpHostKeyOptions {
  /** known_hosts text (e.g. `ssh-keyscan -p PORT HOST` output). */
  knownHosts?: string;
  /** Where knownHosts came from, for messages (default "the given known_hosts"). */
  knownHostsSource?: string;
  /** known_hosts file to check the server's key against. */
  knownHostsFile?: string;
  /** Accept any host key (explicit opt-out, as `-o sftp.insecure-host-key=true`). */
  insecureHostKey?: boolean;
}

export type ServerKind = 'rest' | 'awss3' | 'sftp';

/** A configuration with its secrets resolved: everything needed to open the repository. */
export interface ResolvedBackupServer {
  kind: ServerKind;
  /** restic location without any secret in it, e.g. `rest:https://host:8000/che/`. */
  location: string;
  repositoryPassword: string;
  /** REST basic-auth credentials. */
  username?: string;
  password?: string;
  /** S3 credentials. */
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  /** SFTP private key text. */
  sshPrivateKey?: string;
  sftp?: SftpHostKeyOptions;
  /**
   * Environment for our `openLocation` (and the CLI): AWS_*, RESTIC_REST_USERNAME/PASSWORD,
   * SSH_KEY. Never contains the repository password.
   */
  env: Record<string, string>;
}

/** A configuration or secret problem; the message names the field and what is wrong. */
export class BackupConfigError extends UsageError {}

export const CHE_DEFAULTS = {
  rest: { protocol: 'https', port: 8000 },
  awss3: { protocol: 'https', hostname: 's3.amazonaws.com' },
  sftp: { port: 22 },
} as const;

const KINDS: ServerKind[] = ['rest', 'awss3', 'sftp'];

/** The one server section of a spec; a precise error for none or several. */
export function serverSection(spec: BackupServerSpec | undefined): ServerKind {
  if (!spec || typeof spec !== 'object') throw new BackupConfigError('backup server configuration has no spec');
  const present = KINDS.filter((k) => spec[k] !== undefined && spec[k] !== null);
  if (present.length === 0) {
    throw new BackupConfigError('backup server configuration has no server section: set exactly one of rest, awss3 or sftp');
  }
  if (present.length > 1) {
    throw new BackupConfigError(
      `backup server configuration has ${present.length} server sections (${present.join(', ')}): set exactly one of rest, awss3 or sftp`,
    );
  }
  return present[0]!;
}

function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new BackupConfigError(`${field} is required`);
  return v.trim();
}

function checkHostname(v: unknown, field: string): string {
  const h = requireString(v, field);
  if (!/^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$|^\[[0-9a-fA-F:.]+\]$/.test(h)) {
    throw new BackupConfigError(
      `${field} ${JSON.stringify(h)} is not a host name (give the name or address only, without protocol, port or path)`,
    );
  }
  return h;
}

function checkPort(v: unknown, field: string, fallback: number | undefined): number | undefined {
  if (v === undefined || v === null || v === 0) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new BackupConfigError(`${field} must be a port number between 1 and 65535, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkProtocol(v: unknown, field: string, fallback: string): 'http' | 'https' {
  if (v === undefined || v === null || v === '') return fallback as 'http' | 'https';
  if (v !== 'http' && v !== 'https') throw new BackupConfigError(`${field} must be "http" or "https", got ${JSON.stringify(v)}`);
  return v;
}

function secretOf(secrets: SecretMap, ref: string, field: string): Record<string, string> {
  const s = Object.prototype.hasOwnProperty.call(secrets, ref) ? secrets[ref] : undefined;
  if (!s) throw new BackupConfigError(`secret ${JSON.stringify(ref)} referenced by ${field} was not found`);
  return s;
}

function secretKey(secrets: SecretMap, ref: string, field: string, key: string): string {
  const s = secretOf(secrets, ref, field);
  const v = Object.prototype.hasOwnProperty.call(s, key) ? s[key] : undefined;
  if (v === undefined || v === '') {
    const keys = Object.keys(s);
    throw new BackupConfigError(
      `secret ${JSON.stringify(ref)} (${field}) has no ${JSON.stringify(key)} key${keys.length ? ` (it has: ${keys.join(', ')})` : ' (it is empty)'}`,
    );
  }
  return v;
}

/** The secret key holding known_hosts text next to the SSH private key. */
export const KNOWN_HOSTS_SECRET_KEY = 'known_hosts';

/**
 * `ssh-privatekey`, or the only key of the secret besides `known_hosts` (Che took the only
 * key of a single-key secret, whatever its name: che-operator pkg/backup_servers/sftp_server.go).
 */
function sshPrivateKey(secrets: SecretMap, ref: string, field: string): string {
  const s = secretOf(secrets, ref, field);
  if (Object.prototype.hasOwnProperty.call(s, 'ssh-privatekey')) return secretKey(secrets, ref, field, 'ssh-privatekey');
  const keys = Object.keys(s).filter((k) => k !== KNOWN_HOSTS_SECRET_KEY);
  if (keys.length === 1) return secretKey(secrets, ref, field, keys[0]!);
  throw new BackupConfigError(
    `secret ${JSON.stringify(ref)} (${field}) has no "ssh-privatekey" key${keys.length ? ` and more than one other key (${keys.join(', ')})` : ' (it is empty)'}`,
  );
}

/** `repo-password`, or the only key of a single-key secret (as Che accepted). */
function repositoryPassword(secrets: SecretMap, ref: string, field: string): string {
  const s = secretOf(secrets, ref, field);
  const keys = Object.keys(s);
  if (keys.includes('repo-password')) return secretKey(secrets, ref, field, 'repo-password');
  if (keys.length === 1) {
    const v = s[keys[0]!]!;
    if (v === '') throw new BackupConfigError(`secret ${JSON.stringify(ref)} (${field}) holds an empty password`);
    return v;
  }
  throw new BackupConfigError(
    `secret ${JSON.stringify(ref)} (${field}) has no "repo-password" key${keys.length ? ` and more than one key (${keys.join(', ')})` : ' (it is empty)'}`,
  );
}

const KEY_HEADER = /^-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED |OPENSSH )?PRIVATE KEY)-----\r?\n[\s\S]*?\r?\n-----END \1-----\s*$/;

/** A PEM or OpenSSH private key (Che only checked for `-----BEGIN`; we check the armour). */
export function checkSshPrivateKey(key: string, field: string): string {
  const k = key.trim() + '\n';
  if (!k.startsWith('-----BEGIN')) {
    throw new BackupConfigError(
      `${field}: the SSH key is not a PEM or OpenSSH private key (it must start with "-----BEGIN … PRIVATE KEY-----")`,
    );
  }
  if (!KEY_HEADER.test(k)) {
    throw new BackupConfigError(
      `${field}: the SSH key is not a complete PEM or OpenSSH private key (expected "-----BEGIN … PRIVATE KEY-----" … "-----END … PRIVATE KEY-----")`,
    );
  }
  return k;
}

function cleanPath(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Validate a configuration and its secrets, apply Che's defaults and build the location.
 * Throws BackupConfigError with the field at fault.
 */
export function resolveBackupServer(
  config: BackupServerConfiguration | BackupServerSpec,
  secrets: SecretMap,
  sftp: SftpHostKeyOptions = {},
): ResolvedBackupServer {
  const spec: BackupServerSpec =
    'spec' in config && (config as BackupServerConfiguration).spec !== undefined
      ? (config as BackupServerConfiguration).spec
      : (config as BackupServerSpec);
  const kind = serverSection(spec);
  if (kind === 'rest') return resolveRest(spec.rest!, secrets);
  if (kind === 'awss3') return resolveAwsS3(spec.awss3!, secrets);
  return resolveSftp(spec.sftp!, secrets, sftp);
}

function resolveRest(r: RestServerSpec, secrets: SecretMap): ResolvedBackupServer {
  const protocol = checkProtocol(r.protocol, 'rest.protocol', CHE_DEFAULTS.rest.protocol);
  const hostname = checkHostname(r.hostname, 'rest.hostname');
  const port = checkPort(r.port, 'rest.port', CHE_DEFAULTS.rest.port);
  if (r.repositoryPath !== undefined && typeof r.repositoryPath !== 'string')
    throw new BackupConfigError('rest.repositoryPath must be a string');
  const repoPath = cleanPath(r.repositoryPath ?? '');
  const password = repositoryPassword(
    secrets,
    requireString(r.repositoryPasswordSecretRef, 'rest.repositoryPasswordSecretRef'),
    'rest.repositoryPasswordSecretRef',
  );
  const out: ResolvedBackupServer = {
    kind: 'rest',
    location: `rest:${protocol}://${hostname}:${port}/${repoPath ? repoPath + '/' : ''}`,
    repositoryPassword: password,
    env: {},
  };
  if (r.credentialsSecretRef) {
    const field = 'rest.credentialsSecretRef';
    out.username = secretKey(secrets, r.credentialsSecretRef, field, 'username');
    if (out.username.includes(':'))
      throw new BackupConfigError(`secret ${JSON.stringify(r.credentialsSecretRef)} (${field}): the username must not contain ":"`);
    out.password = secretKey(secrets, r.credentialsSecretRef, field, 'password');
    out.env = { RESTIC_REST_USERNAME: out.username, RESTIC_REST_PASSWORD: out.password };
  }
  return out;
}

function resolveAwsS3(s: AwsS3ServerSpec, secrets: SecretMap): ResolvedBackupServer {
  const protocol = checkProtocol(s.protocol, 'awss3.protocol', CHE_DEFAULTS.awss3.protocol);
  const hostname =
    s.hostname === undefined || s.hostname === '' ? CHE_DEFAULTS.awss3.hostname : checkHostname(s.hostname, 'awss3.hostname');
  const port = checkPort(s.port, 'awss3.port', undefined);
  const repoPath = cleanPath(requireString(s.repositoryPath, 'awss3.repositoryPath'));
  const bucket = repoPath.split('/')[0]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new BackupConfigError(
      `awss3.repositoryPath: ${JSON.stringify(bucket)} is not a valid bucket name (3-63 characters: a-z, 0-9, "." and "-")`,
    );
  }
  const ref = requireString(s.repositoryPasswordSecretRef, 'awss3.repositoryPasswordSecretRef');
  const password = repositoryPassword(secrets, ref, 'awss3.repositoryPasswordSecretRef');
  const keyRef = requireString(s.awsAccessKeySecretRef, 'awss3.awsAccessKeySecretRef');
  const awsAccessKeyId = secretKey(secrets, keyRef, 'awss3.awsAccessKeySecretRef', 'awsAccessKeyId');
  const awsSecretAccessKey = secretKey(secrets, keyRef, 'awss3.awsAccessKeySecretRef', 'awsSecretAccessKey');
  return {
    kind: 'awss3',
    location: `s3:${protocol}://${hostname}${port ? `:${port}` : ''}/${repoPath}`,
    repositoryPassword: password,
    awsAccessKeyId,
    awsSecretAccessKey,
    env: { AWS_ACCESS_KEY_ID: awsAccessKeyId, AWS_SECRET_ACCESS_KEY: awsSecretAccessKey },
  };
}

function resolveSftp(f: SftpServerSpec, secrets: SecretMap, sftp: SftpHostKeyOptions): ResolvedBackupServer {
  const username = requireString(f.username, 'sftp.username');
  if (/[@:/\s]/.test(username))
    throw new BackupConfigError(`sftp.username ${JSON.stringify(username)} must not contain "@", ":", "/" or spaces`);
  const hostname = checkHostname(f.hostname, 'sftp.hostname');
  const port = checkPort(f.port, 'sftp.port', CHE_DEFAULTS.sftp.port)!;
  const rawPath = requireString(f.repositoryPath, 'sftp.repositoryPath');
  const password = repositoryPassword(
    secrets,
    requireString(f.repositoryPasswordSecretRef, 'sftp.repositoryPasswordSecretRef'),
    'sftp.repositoryPasswordSecretRef',
  );
  const keyRef = requireString(f.sshKeySecretRef, 'sftp.sshKeySecretRef');
  const key = checkSshPrivateKey(
    sshPrivateKey(secrets, keyRef, 'sftp.sshKeySecretRef'),
    `secret ${JSON.stringify(keyRef)} (sftp.sshKeySecretRef)`,
  );
  // sftp://user@host:port//abs or sftp://user@host:port/relative (restic's URL form).
  const p = rawPath.replace(/^\/+/, '/').replace(/(.)\/+$/, '$1');
  return {
    kind: 'sftp',
    location: `sftp://${username}@${hostname}:${port}/${p}`,
    repositoryPassword: password,
    sshPrivateKey: key,
    sftp: hostKeyOptions(secrets[keyRef]!, keyRef, hostname, port, sftp),
    env: { SSH_KEY: key },
  };
}

/** Where the host key is checked against: the secret's `known_hosts`, else the options; never nothing. */
function hostKeyOptions(
  secret: Record<string, string>,
  ref: string,
  hostname: string,
  port: number,
  opts: SftpHostKeyOptions,
): SftpHostKeyOptions {
  const fromSecret = Object.prototype.hasOwnProperty.call(secret, KNOWN_HOSTS_SECRET_KEY) ? secret[KNOWN_HOSTS_SECRET_KEY] : undefined;
  if (fromSecret !== undefined) {
    if (fromSecret.trim() === '')
      throw new BackupConfigError(`secret ${JSON.stringify(ref)} (sftp.sshKeySecretRef): "known_hosts" is empty`);
    return { ...opts, knownHosts: fromSecret, knownHostsSource: `the "known_hosts" key of secret ${JSON.stringify(ref)}` };
  }
  if (opts.knownHosts !== undefined || opts.knownHostsFile || opts.insecureHostKey) return opts;
  throw new BackupConfigError(
    `sftp: nothing to check the host key of ${hostname}:${port} against: add a "known_hosts" key to secret ${JSON.stringify(ref)} ` +
      `(the output of \`ssh-keyscan -p ${port} ${hostname}\`), or pass knownHostsFile, or insecureHostKey: true to accept any key as Che did`,
  );
}

/**
 * A restic 0.14 command line's `-r` for this server: restic 0.14 reads REST credentials only
 * from the URL, so they are embedded (percent-encoded) here. Keep it out of logs.
 */
export function resticUrlWithCredentials(server: ResolvedBackupServer): string {
  if (server.kind !== 'rest' || server.username === undefined) return server.location;
  const u = new URL(server.location.slice('rest:'.length));
  u.username = encodeURIComponent(server.username);
  u.password = encodeURIComponent(server.password ?? '');
  return `rest:${u.toString()}`;
}
