/**
 * `restic-ts/operator`: the Eclipse Che backup surface (backup/restore of a Che
 * installation to a REST, S3 or SFTP backup server, status events, YAML).
 */
export * from '../operator/index.js';
