/**
 * Repository locations in restic's syntax, and the backend each one opens.
 * `local:/path` or a plain path → LocalBackend; remote schemes are added here as their
 * backends land (rest:, s3:, sftp:).
 */
import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';
import { S3Backend } from './s3.js';
import { RestBackend } from './rest.js';
import { SftpBackend } from './sftp/sftp.js';

/** Options a remote backend may need, gathered from flags and environment by the caller. */
export interface BackendOptions {
  env?: NodeJS.ProcessEnv;
  /** `-o key=value` extended options. */
  extended?: Record<string, string>;
  /** `--cacert` files: extra trusted CA certificates for TLS (REST, S3). */
  cacert?: string[];
  /** `--insecure-tls`: skip TLS certificate verification (only when asked for). */
  insecureTls?: boolean;
  /** `--ssh-key-file`: private key for SFTP (else SSH_KEY_FILE, SSH_KEY, ~/.ssh/id_*). */
  sshKeyFile?: string;
}

const KNOWN_REMOTE = ['rest', 's3', 'sftp', 'b2', 'azure', 'gs', 'swift', 'rclone'];

export function openLocation(location: string, _opts: BackendOptions = {}): Backend {
  if (location.startsWith('local:')) return new LocalBackend(location.slice('local:'.length));
  if (location.startsWith('s3:')) return S3Backend.fromLocation(location, _opts);
  if (location.startsWith('rest:')) return RestBackend.fromLocation(location, _opts);
  if (location.startsWith('sftp:')) return SftpBackend.fromLocation(location, _opts);
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  if (scheme && KNOWN_REMOTE.includes(scheme)) {
    throw new UsageError(`backend "${scheme}" is not supported yet (location ${location})`);
  }
  return new LocalBackend(location);
}
