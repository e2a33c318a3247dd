/**
 * `restic-ts/sftp`: the SFTP backend. It needs the optional peer dependency `ssh2`
 * (`npm install ssh2`), loaded on first use.
 *
 * @example
 * ```ts
 * import { SftpBackend } from 'restic-ts/sftp';
 * const backend = SftpBackend.fromLocation('sftp:backup@127.0.0.1:/srv/repo');
 * ```
 */
export { SftpBackend, HostKeyError, parseSftpLocation, type SftpBackendOptions, type SftpPrivateKey } from '../backends/sftp/sftp.js';
