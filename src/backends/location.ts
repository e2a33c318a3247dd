/**
 * Repository locations in restic's syntax, and the backend each one opens.
 * `local:/path` or a plain path → LocalBackend; `rest:`, `s3:`, `sftp:` → the remote backends.
 */
import { UsageError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';

export type { BackendOptions } from './backend.js';
import { LocalBackend } from './local.js';
import { S3Backend } from './s3.js';
import { RestBackend } from './rest.js';
import { SftpBackend } from './sftp/sftp.js';

const KNOWN_REMOTE = ['rest', 's3', 'sftp', 'b2', 'azure', 'gs', 'swift', 'rclone'];

/**
 * The backend for a restic repository location: a path or `local:`, `rest:`, `s3:` or `sftp:`
 * (restic's syntax). Remote SDKs load on first use.
 *
 * @example
 * ```ts
 * const repo = await Repository.open(openLocation('rest:http://127.0.0.1:8000/repo'), password);
 * ```
 */
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
