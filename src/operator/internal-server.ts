/**
 * The internal backup server, done properly: our REST server in-process, data in a
 * persistent directory, authentication always on with generated credentials (bcrypt in
 * htpasswd), and the matching backup server configuration and secrets handed back.
 * Che's was `rest-server --no-auth` without a volume: open to the namespace, lost on restart.
 *
 * Directory layout (everything 0600/0700):
 *   <dir>/credentials.json   generated user, HTTP password and repository password
 *   <dir>/.htpasswd          bcrypt hash of the HTTP password
 *   <dir>/repos/che/         the restic repository
 * A restart with the same directory reuses the credentials, so existing backups stay usable.
 */
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { type RestServer, startRestServer } from '../rest-server/server.js';
import { UsageError } from '../errors.js';
import { type BackupServerConfiguration, type ResolvedBackupServer, type SecretMap, resolveBackupServer } from './config.js';

/** Names Che's operator used for the internal server's objects. */
export const INTERNAL_SERVER_NAMES = {
  configuration: 'backup-rest-server-configuration',
  repoPasswordSecret: 'backup-rest-server-repo-password',
  credentialsSecret: 'backup-rest-server-credentials',
  repositoryPath: 'che',
} as const;

export interface InternalBackupServerOptions {
  /** Persistent directory for credentials and repositories (created when missing). */
  dir: string;
  /** `host:port` to listen on; default 127.0.0.1:0 (a free port). */
  listen?: string;
  /** Host name clients use in the configuration (default: the listening address). */
  advertisedHost?: string;
  /** bcrypt cost for the generated password's hash (default 10). */
  bcryptCost?: number;
  log?: (line: string) => void;
}

export interface InternalBackupServer {
  readonly server: RestServer;
  /** The CheBackupServerConfiguration pointing at this server. */
  readonly configuration: BackupServerConfiguration;
  /** The secrets the configuration references. */
  readonly secrets: SecretMap;
  /** Configuration and secrets resolved, ready for openBackupRepository / backupCheInstallation. */
  readonly resolved: ResolvedBackupServer;
  close(): Promise<void>;
}

interface Credentials {
  username: string;
  password: string;
  repoPassword: string;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A random password from an unambiguous alphabet (no shell or URL quoting needed, not that we use either). */
function generatePassword(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

function loadOrCreateCredentials(dir: string): { creds: Credentials; created: boolean } {
  const file = path.join(dir, 'credentials.json');
  if (fs.existsSync(file)) {
    let c: Partial<Credentials>;
    try {
      c = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`internal backup server: cannot read ${file}: ${(err as Error).message}`);
    }
    if (typeof c.username !== 'string' || typeof c.password !== 'string' || typeof c.repoPassword !== 'string') {
      throw new UsageError(`internal backup server: ${file} is incomplete (username, password and repoPassword are required)`);
    }
    return { creds: c as Credentials, created: false };
  }
  const creds: Credentials = {
    username: `che-backup-${randomBytes(3).toString('hex')}`,
    password: generatePassword(32),
    repoPassword: generatePassword(32),
  };
  // Written with O_EXCL and 0600: never world-readable, never silently replaced.
  fs.writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return { creds, created: true };
}

/** Start (or restart) the internal backup server on a persistent directory. */
export async function startInternalBackupServer(opts: InternalBackupServerOptions): Promise<InternalBackupServer> {
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { creds, created } = loadOrCreateCredentials(dir);
  const htpasswd = path.join(dir, '.htpasswd');
  if (created || !fs.existsSync(htpasswd)) {
    const hash = await bcrypt.hash(creds.password, opts.bcryptCost ?? 10);
    fs.writeFileSync(htpasswd, `${creds.username}:${hash}\n`, { mode: 0o600 });
  }
  const reposDir = path.join(dir, 'repos');
  fs.mkdirSync(reposDir, { recursive: true, mode: 0o700 });
  const server = await startRestServer({ path: reposDir, listen: opts.listen ?? '127.0.0.1:0', htpasswdFile: htpasswd, log: opts.log });
  const configuration: BackupServerConfiguration = {
    metadata: { name: INTERNAL_SERVER_NAMES.configuration },
    spec: {
      rest: {
        protocol: 'http',
        hostname: opts.advertisedHost ?? server.host,
        port: server.port,
        repositoryPath: INTERNAL_SERVER_NAMES.repositoryPath,
        repositoryPasswordSecretRef: INTERNAL_SERVER_NAMES.repoPasswordSecret,
        credentialsSecretRef: INTERNAL_SERVER_NAMES.credentialsSecret,
      },
    },
  };
  const secrets: SecretMap = {
    [INTERNAL_SERVER_NAMES.repoPasswordSecret]: { 'repo-password': creds.repoPassword },
    [INTERNAL_SERVER_NAMES.credentialsSecret]: { username: creds.username, password: creds.password },
  };
  return {
    server,
    configuration,
    secrets,
    resolved: resolveBackupServer(configuration, secrets),
    close: () => server.close(),
  };
}
