/**
 * From a resolved backup server to an opened repository, initialising it when there is
 * none yet (Che's "exists? else init"): a missing `config` (404 over REST, NoSuchKey over S3,
 * ENOENT over SFTP) means "no repository"; every other failure is reported as it is.
 */
import type { Backend } from '../backends/backend.js';
import { openLocation } from '../backends/location.js';
import { NotFoundError } from '../errors.js';
import type { KdfParams } from '../crypto/index.js';
import { Repository } from '../repository/repository.js';
import type { ResolvedBackupServer } from './config.js';

export interface OpenBackupRepositoryOptions {
  /** Create the repository when the location has none (default true). */
  create?: boolean;
  /** scrypt parameters for a new key (default: restic-like calibration). */
  kdf?: KdfParams;
  /** Extra trusted CA certificate files (REST/S3 over TLS with a private CA). */
  cacert?: string[];
  /** Extra `-o` options for the backend (e.g. rest.connections). */
  extended?: Record<string, string>;
}

/** The backend for a resolved server, with its credentials and host-key settings. */
export function openServerBackend(
  server: ResolvedBackupServer,
  opts: Pick<OpenBackupRepositoryOptions, 'cacert' | 'extended'> = {},
): Backend {
  const extended: Record<string, string> = { ...(opts.extended ?? {}) };
  let sftpKnownHosts: { text: string; source: string } | undefined;
  if (server.kind === 'sftp') {
    if (server.sftp?.knownHostsFile) extended['sftp.known-hosts'] = server.sftp.knownHostsFile;
    if (server.sftp?.insecureHostKey) extended['sftp.insecure-host-key'] = 'true';
    if (server.sftp?.knownHosts !== undefined)
      sftpKnownHosts = { text: server.sftp.knownHosts, source: server.sftp.knownHostsSource ?? 'the given known_hosts' };
  }
  return openLocation(server.location, { env: { ...server.env }, extended, cacert: opts.cacert, sftpKnownHosts });
}

/** Does the backend hold a repository (a `config` file)? */
export async function repositoryExists(backend: Backend): Promise<boolean> {
  try {
    await backend.stat({ type: 'config', name: 'config' });
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

export interface OpenedBackupRepository {
  repo: Repository;
  /** True when this call created the repository. */
  created: boolean;
}

/** Open the server's repository with its password; create it first when it does not exist. */
export async function openBackupRepository(
  server: ResolvedBackupServer,
  opts: OpenBackupRepositoryOptions = {},
): Promise<OpenedBackupRepository> {
  const backend = openServerBackend(server, opts);
  try {
    if (!(await repositoryExists(backend))) {
      if (opts.create === false) {
        // Let Repository.open produce the standard "repository does not exist" error.
        return { repo: await Repository.open(backend, server.repositoryPassword), created: false };
      }
      return { repo: await Repository.init(backend, server.repositoryPassword, { kdf: opts.kdf }), created: true };
    }
    return { repo: await Repository.open(backend, server.repositoryPassword), created: false };
  } catch (err) {
    await backend.close().catch(() => {});
    throw err;
  }
}
