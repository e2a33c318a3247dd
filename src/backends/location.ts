/**
 * Repository locations in restic's syntax, and the backend each one opens.
 * `local:/path` or a plain path → LocalBackend; remote schemes are added here as their
 * backends land (rest:, s3:, sftp:).
 */
import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';

/** Options a remote backend may need, gathered from flags and environment by the caller. */
export interface BackendOptions {
  env?: NodeJS.ProcessEnv;
  /** `-o key=value` extended options. */
  extended?: Record<string, string>;
}

const KNOWN_REMOTE = ['rest', 's3', 'sftp', 'b2', 'azure', 'gs', 'swift', 'rclone'];

export function openLocation(location: string, _opts: BackendOptions = {}): Backend {
  if (location.startsWith('local:')) return new LocalBackend(location.slice('local:'.length));
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  if (scheme && KNOWN_REMOTE.includes(scheme)) {
    throw new UsageError(`backend "${scheme}" is not supported yet (location ${location})`);
  }
  return new LocalBackend(location);
}
