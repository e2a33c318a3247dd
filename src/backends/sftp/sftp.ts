/**
 * SFTP backend on ssh2 (its public Client and SFTPWrapper API), in restic's default layout
 * under a directory on the server, behaving like restic 0.14's internal/backend/sftp:
 *   - save writes `<final>-restic-temp-<32 hex>` (exclusive create, mode 0600) and renames it
 *     into place with posix-rename@openssh.com when the server offers it (atomic overwrite;
 *     ssh2 refuses the request before sending it when the server does not offer it), else
 *     with plain SFTP v3 rename, which cannot overwrite, so there the old file is removed first;
 *   - create makes keys/, locks/, snapshots/, index/, data/ and data/00..ff;
 *   - names that are not 64-hex IDs (temp files) are ignored by list.
 *
 * Locations (restic's syntax):
 *   sftp:user@host:/abs/path   sftp:user@host:relative/path
 *   sftp://user@host[:port]//abs/path   sftp://user@host[:port]/relative/path
 * Relative paths resolve against the directory the server starts the session in (usually
 * the home directory).
 *
 * Unlike restic, which runs the `ssh` binary, we speak SSH ourselves, so keys and host keys
 * are configured here: the private key from --ssh-key-file, SSH_KEY_FILE, SSH_KEY (key text),
 * else ~/.ssh/id_ed25519, id_ecdsa, id_rsa (tried in that order); an encrypted key takes its
 * passphrase from SSH_KEY_PASSPHRASE. The server's host key must be in known_hosts
 * (~/.ssh/known_hosts, or `-o sftp.known-hosts=FILE`); an unknown or changed key refuses the
 * connection unless `-o sftp.insecure-host-key=true` is given explicitly.
 *
 * One SSH connection carries all requests (at most `sftp.connections`, default 5, at once,
 * as restic's semaphore). When the link drops, the next request reconnects; a request that
 * was cut off is repeated once on the new connection, then reported as transient so the
 * RetryBackend around every location backs off and tries again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type * as ssh2 from 'ssh2';
import type { Client, ConnectConfig, SFTPWrapper, Stats } from 'ssh2';
import { throwIfAborted, type ErrorCode, NotFoundError, ResticError, UsageError } from '../../errors.js';
import {
  type Backend,
  type BackendOptions,
  type FileInfo,
  type FileType,
  type Handle,
  checkHandle,
  defaultLayoutDir,
  defaultLayoutPath,
  describeHandle,
  isIdName,
  type CallOptions,
} from '../backend.js';
import { fingerprint, keyBlobType, knownHostsName, knownKeyTypes, parseKnownHosts, readKnownHosts, verifyHostKey } from './known-hosts.js';
import { AuthenticationError, BackendRequestError, RetryBackend } from '../retry.js';
import { Semaphore } from '../semaphore.js';
import { requireOptional } from '../optional.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, faultOptions, parseIntOption } from '../options.js';

/** The server's host key was not accepted (unknown, changed or revoked). Never retried. */
export class HostKeyError extends ResticError {
  override readonly code: ErrorCode = 'HOST_KEY';
}

export interface SftpPrivateKey {
  /** Key text (OpenSSH or PEM format). */
  key: string | Buffer;
  /** Where it came from, for messages (a file name, or "SSH_KEY"). */
  source: string;
  passphrase?: string;
}

export interface SftpBackendOptions {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** Repository directory on the server (absolute, or relative to the session's start directory). */
  path: string;
  /** Keys tried in order for public-key authentication. */
  privateKeys: SftpPrivateKey[];
  /** known_hosts file (default ~/.ssh/known_hosts). */
  knownHostsFile?: string;
  /** known_hosts text (e.g. from a Kubernetes secret), used instead of the file; `source` names it in messages. */
  knownHosts?: { text: string; source: string };
  /** Accept any host key (only when explicitly asked for). */
  insecureHostKey?: boolean;
  /** Requests in flight at once (default 5, restic's default). */
  connections?: number;
  /** Time allowed for connecting and the SSH handshake, in ms (default 10 s). */
  readyTimeoutMs?: number;
  /** A request unanswered for this long drops the connection, in ms (default 30 s). */
  requestTimeoutMs?: number;
  /** Human-readable location (default derived from the options). */
  location?: string;
}

export interface ParsedSftpLocation {
  user?: string;
  host: string;
  port?: number;
  path: string;
}

// SFTP status codes (draft-ietf-secsh-filexfer-02).
const FX_EOF = 1;
const FX_NO_SUCH_FILE = 2;
const FX_PERMISSION_DENIED = 3;

const DEFAULT_CONNECTIONS = 5;
const SFTP_OPTIONS = [
  'sftp.known-hosts',
  'sftp.insecure-host-key',
  'sftp.connections',
  'sftp.retries',
  'sftp.timeout',
  'sftp.connect-timeout',
  'sftp.max-retry-time',
];
const IO_CHUNK = 64 * 1024;
const IO_PARALLEL = 8;
/**
 * Read requests in flight per load: over a long round trip a pack read is bounded by the bytes
 * in flight, and 32 chunks still fit the SSH channel's window (docs/remote-bench.md).
 */
const READ_PARALLEL = 32;
const DEFAULT_MODES = { dir: 0o700, file: 0o600 };

// ---------------------------------------------------------------------------------------
// Location parsing

/** Parse `sftp:…` as restic 0.14 does (the path is path.Clean'ed; `~` is refused). */
export function parseSftpLocation(location: string): ParsedSftpLocation {
  let user: string | undefined;
  let host: string;
  let port: number | undefined;
  let dir: string;
  if (location.startsWith('sftp://')) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: not a valid URL`);
    }
    if (url.password)
      throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: passwords are not supported, use an SSH key`);
    if (url.search || url.hash) throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: unexpected query or fragment`);
    user = url.username ? decodeURIComponent(url.username) : undefined;
    host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (url.port) port = Number(url.port);
    if (!url.pathname || url.pathname === '/')
      throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: no directory specified`);
    dir = decodeURIComponent(url.pathname.slice(1)); // "//abs" → "/abs", "/rel" → "rel"
  } else if (location.startsWith('sftp:')) {
    const rest = location.slice(5);
    const colon = rest.indexOf(':');
    if (colon < 0)
      throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: hostname or path not found (use sftp:user@host:/path)`);
    const userHost = rest.slice(0, colon);
    dir = rest.slice(colon + 1);
    const at = userHost.lastIndexOf('@');
    if (at >= 0) {
      user = userHost.slice(0, at);
      host = userHost.slice(at + 1);
    } else {
      host = userHost;
    }
  } else {
    throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: must start with "sftp:"`);
  }
  if (!host) throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: host not found`);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: bad port`);
  if (!dir) throw new UsageError(`invalid SFTP location ${JSON.stringify(location)}: no directory specified`);
  const p = path.posix.normalize(dir).replace(/(.)\/$/, '$1');
  if (p.startsWith('~')) {
    throw new UsageError(
      `sftp path ${JSON.stringify(p)} starts with the tilde (~) character, which most sftp servers do not expand; use a relative directory (relative to the home directory)`,
    );
  }
  return { user, host, port, path: p };
}

/** Location string in restic's URL syntax (`sftp://user@host:port//abs` or `/rel`). */
function formatSftpLocation(p: { user: string; host: string; port?: number; path: string }): string {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  const port = p.port && p.port !== 22 ? `:${p.port}` : '';
  return `sftp://${p.user}@${host}${port}/${p.path}`;
}

// ---------------------------------------------------------------------------------------
// Keys

/**
 * Private keys in restic-ts's order: --ssh-key-file, SSH_KEY_FILE, SSH_KEY (key text, as
 * chectl passes it), else the user's default keys. Passphrase from SSH_KEY_PASSPHRASE.
 */
function findPrivateKeys(env: NodeJS.ProcessEnv, keyFile?: string): SftpPrivateKey[] {
  const passphrase = env.SSH_KEY_PASSPHRASE || undefined;
  const fromFile = (file: string, how: string): SftpPrivateKey => {
    try {
      return { key: fs.readFileSync(file), source: file, passphrase };
    } catch (err) {
      throw new UsageError(
        `cannot read SSH private key ${file} (${how}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  if (keyFile) return [fromFile(keyFile, '--ssh-key-file')];
  if (env.SSH_KEY_FILE) return [fromFile(env.SSH_KEY_FILE, 'SSH_KEY_FILE')];
  if (env.SSH_KEY) {
    // Some tools pass the key with literal "\n" sequences in one line.
    const text = env.SSH_KEY.includes('\n') ? env.SSH_KEY : env.SSH_KEY.replace(/\\n/g, '\n');
    return [{ key: text, source: 'SSH_KEY', passphrase }];
  }
  const home = env.HOME || os.homedir();
  const keys: SftpPrivateKey[] = [];
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = path.join(home, '.ssh', name);
    if (fs.existsSync(file)) keys.push(fromFile(file, 'default key'));
  }
  if (!keys.length) {
    throw new UsageError(
      `no SSH private key: use --ssh-key-file FILE, SSH_KEY_FILE or SSH_KEY (no ~/.ssh/id_ed25519, id_ecdsa or id_rsa in ${home})`,
    );
  }
  return keys;
}

type Ssh2 = typeof ssh2;

/** ssh2, loaded on first use (CommonJS, see requireOptional). */
function loadSsh2(): Promise<Ssh2> {
  return requireOptional<Ssh2>('ssh2', 'sftp');
}

/** Parse each key now so a bad file or a missing passphrase is a clear error, not an auth failure. */
async function checkKeys(utils: Ssh2['utils'], keys: SftpPrivateKey[]): Promise<void> {
  for (const k of keys) {
    const parsed = utils.parseKey(k.key, k.passphrase);
    if (parsed instanceof Error) {
      const msg = parsed.message;
      if (/passphrase/i.test(msg) && !k.passphrase) {
        throw new UsageError(`SSH private key ${k.source} is encrypted: set SSH_KEY_PASSPHRASE`);
      }
      throw new UsageError(`cannot use SSH private key ${k.source}: ${msg}`);
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || !key.isPrivateKey()) throw new UsageError(`${k.source} is not an SSH private key`);
  }
}

// ---------------------------------------------------------------------------------------
// The backend

interface Session {
  client: Client;
  /** The TCP socket (ours, handed to ssh2): referenced only while requests are in flight (see run()). */
  sock: net.Socket;
  sftp: SFTPWrapper;
  /** More SFTP channels for pack reads (see bulkChannel), opened on first use; null: refused. */
  bulk: Array<Promise<SFTPWrapper | null>>;
  /** Pack reads started so far (they take turns over the channels). */
  bulkTurn: number;
  /** Whether the server offers posix-rename@openssh.com; unknown until the first rename. */
  posixRename?: boolean;
  alive: boolean;
  /** Why the connection ended, when it did. */
  lost?: Error;
  /** drop() has closed it. */
  ended?: boolean;
  /** Requests waiting for an answer (failed when the connection is lost). */
  pending: Set<{ reject: (err: Error) => void }>;
  /** A request unanswered for this long drops the connection (a server that hangs). */
  requestTimeoutMs: number;
}

export class SftpBackend implements Backend {
  readonly location: string;
  /** Repository directory as given (absolute or relative). */
  readonly root: string;
  private readonly opts: SftpBackendOptions;
  private readonly sem: Semaphore;
  private sessionP?: Promise<Session>;
  private modesP?: Promise<{ dir: number; file: number }>;
  private keysChecked = false;
  /** Once connected, a refused or failed reconnect is worth retrying (sshd restarting). */
  private everConnected = false;
  private closed = false;
  /** Operations in flight; while there are none the socket does not keep the process alive. */
  private busy = 0;
  private current?: Session;

  constructor(opts: SftpBackendOptions) {
    if (!opts.privateKeys.length) throw new UsageError('SFTP backend needs at least one SSH private key');
    const connections = opts.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isInteger(connections) || connections < 1) throw new UsageError(`invalid number of SFTP connections: ${connections}`);
    this.opts = opts;
    this.root = opts.path;
    this.sem = new Semaphore(connections);
    this.location = opts.location ?? formatSftpLocation(opts);
  }

  /**
   * `sftp:…` → an SftpBackend wrapped in RetryBackend. Extended options: `sftp.known-hosts`,
   * `sftp.insecure-host-key` (true|false), `sftp.connections`, `sftp.retries`,
   * `sftp.max-retry-time`, `sftp.connect-timeout` (connect and handshake) and `sftp.timeout`
   * (a request without an answer for this long drops the connection); durations in seconds
   * or with an ms/s/m suffix.
   */
  static fromLocation(location: string, opts: BackendOptions = {}): Backend {
    const env = opts.env ?? process.env;
    const ext = opts.extended ?? {};
    for (const k of Object.keys(ext)) {
      if (k.startsWith('sftp.') && !SFTP_OPTIONS.includes(k) && k !== 'sftp.command') {
        throw new UsageError(`option ${k} is not known (SFTP options: ${SFTP_OPTIONS.join(', ')})`);
      }
    }
    if (ext['sftp.command'] !== undefined) {
      throw new UsageError(
        '-o sftp.command is not supported: restic-ts speaks SSH itself; use --ssh-key-file and -o sftp.known-hosts=FILE instead',
      );
    }
    const parsed = parseSftpLocation(location);
    const insecure = ext['sftp.insecure-host-key'];
    if (insecure !== undefined && insecure !== 'true' && insecure !== 'false') {
      throw new UsageError(`invalid value for -o sftp.insecure-host-key: ${JSON.stringify(insecure)} (true or false)`);
    }
    const connections = ext['sftp.connections'] !== undefined ? parseIntOption('sftp.connections', ext['sftp.connections'], 1) : undefined;
    const { retries, budgetMs, timeoutMs, connectTimeoutMs } = faultOptions('sftp', ext, opts.stuckRequestTimeoutMs);
    const home = env.HOME || os.homedir();
    const be = new SftpBackend({
      host: parsed.host,
      port: parsed.port,
      user: parsed.user ?? (env.USER || os.userInfo().username),
      path: parsed.path,
      privateKeys: findPrivateKeys(env, opts.sshKeyFile),
      knownHostsFile: ext['sftp.known-hosts'] || path.join(home, '.ssh', 'known_hosts'),
      knownHosts: opts.sftpKnownHosts,
      insecureHostKey: insecure === 'true',
      connections,
      readyTimeoutMs: connectTimeoutMs,
      requestTimeoutMs: timeoutMs,
    });
    return new RetryBackend(be, { retries, budgetMs });
  }

  private get port(): number {
    return this.opts.port ?? 22;
  }

  private get endpoint(): string {
    return `${this.opts.user}@${this.opts.host}:${this.port}`;
  }

  /** Path of a file on the server. */
  filename(h: Handle): string {
    checkHandle(h);
    return path.posix.join(this.root, defaultLayoutPath(h));
  }

  // ---- connection handling ------------------------------------------------------------

  /** The live session, connecting (again) when there is none. */
  private async session(): Promise<Session> {
    if (this.closed) throw new ResticError(`SFTP backend ${this.location} is closed`);
    for (let i = 0; i < 3; i++) {
      const p = (this.sessionP ??= this.connect());
      let s: Session;
      try {
        s = await p;
      } catch (err) {
        if (this.sessionP === p) this.sessionP = undefined;
        throw err;
      }
      if (s.alive) return s;
      if (this.sessionP === p) this.sessionP = undefined;
    }
    throw new BackendRequestError(`connection to ${this.endpoint} closes right after it is opened`, true);
  }

  private async connect(): Promise<Session> {
    const { Client, utils } = await loadSsh2();
    if (!this.keysChecked) {
      await checkKeys(utils, this.opts.privateKeys);
      this.keysChecked = true;
    }
    const hostKey: { problem?: HostKeyError } = {};
    const config = this.connectConfig(hostKey);
    // Our own socket, so TCP keepalive and ref/unref are set through its public API.
    const sock = (config.sock = net.connect({ host: this.opts.host, port: this.port, keepAlive: true, keepAliveInitialDelay: 15_000 }));
    const client = new Client();
    let sftp: SFTPWrapper;
    try {
      sftp = await openSftp(client, config);
    } catch (err) {
      sock.destroy();
      throw this.connectError(hostKey.problem, err);
    }
    const requestTimeoutMs = this.opts.requestTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const s: Session = { client, sock, sftp, bulk: [], bulkTurn: 0, alive: true, pending: new Set(), requestTimeoutMs };
    this.current = s;
    if (this.busy === 0) sock.unref();
    watchSession(s);
    this.everConnected = true;
    return s;
  }

  /** ssh2's settings: public-key authentication and, unless told otherwise, known_hosts checking. */
  private connectConfig(hostKey: { problem?: HostKeyError }): ConnectConfig {
    // No host or port: ssh2 only uses them to open a socket, and connect() hands it ours.
    const config: ConnectConfig = {
      username: this.opts.user,
      readyTimeout: this.opts.readyTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // No SSH-level keepalive: its timer would keep an idle process alive (a CLI that
      // fails without closing the backend must still exit). TCP keepalive is set instead.
      keepaliveInterval: 0,
      authHandler: this.opts.privateKeys.map((k) => ({
        type: 'publickey' as const,
        username: this.opts.user,
        key: k.key,
        passphrase: k.passphrase,
      })),
    };
    if (!this.opts.insecureHostKey) {
      const given = this.opts.knownHosts;
      const file = given?.source ?? this.opts.knownHostsFile ?? path.join(os.homedir(), '.ssh', 'known_hosts');
      const name = knownHostsName(this.opts.host, this.port);
      const entries = given ? parseKnownHosts(given.text, name) : readKnownHosts(file, name);
      const preferred = preferredHostKeyAlgorithms(knownKeyTypes(entries));
      if (preferred) config.algorithms = { serverHostKey: preferred as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
      config.hostVerifier = (blob: Buffer) => {
        const v = verifyHostKey(entries, blob);
        if (v.status === 'ok') return true;
        hostKey.problem = hostKeyError(v, name, file, blob);
        return false;
      };
    }
    return config;
  }

  /** One line for a failed connection attempt (ssh2's error, with its `level`). */
  private connectError(hostKey: HostKeyError | undefined, err: unknown): ResticError {
    if (hostKey) return hostKey;
    const e = err as (Error & { level?: string; code?: string }) | undefined;
    const where = this.endpoint;
    const msg = e?.message ?? String(err);
    if (e?.level === 'client-authentication' || /authentication methods failed/i.test(msg)) {
      const keys = this.opts.privateKeys.map((k) => k.source).join(', ');
      return new AuthenticationError(`SSH authentication failed for ${where}: the server refused the key (${keys})`);
    }
    const code = e?.code;
    const transient = this.everConnected;
    if (code === 'ECONNREFUSED')
      return new BackendRequestError(`cannot connect to ${where}: connection refused`, transient, undefined, { cause: err });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return new BackendRequestError(`cannot connect to ${where}: host not found`, code === 'EAI_AGAIN' && transient, undefined, {
        cause: err,
      });
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
      return new BackendRequestError(`cannot connect to ${where}: host unreachable`, transient, undefined, { cause: err });
    if (e?.level === 'client-timeout' || /timed out/i.test(msg)) {
      return new BackendRequestError(`cannot connect to ${where}: timed out during the SSH handshake`, transient, undefined, {
        cause: err,
      });
    }
    return new BackendRequestError(
      `cannot connect to ${where}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ''}`,
      transient,
      undefined,
      { cause: err },
    );
  }

  /**
   * Run one operation on the live session. A request cut off by a lost connection is
   * repeated once on a new one; after that the loss is a transient error for the retrier.
   */
  private async run<T>(op: string, fn: (s: Session) => Promise<T>): Promise<T> {
    if (this.busy++ === 0) refSocket(this.current?.sock, true);
    await this.sem.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        const s = await this.session();
        try {
          return await fn(s);
        } catch (err) {
          if (!isConnectionLoss(err, s)) throw err;
          this.drop(s);
          if (attempt >= 1) {
            throw new BackendRequestError(
              `${op}: connection to ${this.endpoint} lost (${(s.lost ?? (err as Error)).message})`,
              true,
              undefined,
              { cause: err },
            );
          }
        }
      }
    } finally {
      this.sem.release();
      if (--this.busy === 0) refSocket(this.current?.sock, false);
    }
  }

  /** Forget a broken session (once, however many requests noticed it) and close it. */
  private drop(s: Session): void {
    s.alive = false;
    if (s.ended) return;
    s.ended = true;
    const cur = this.sessionP;
    if (cur) {
      void cur.then(
        (c) => {
          if (c === s && this.sessionP === cur) this.sessionP = undefined;
        },
        () => undefined,
      );
    }
    void endSession(s);
  }

  // ---- Backend --------------------------------------------------------------------------

  /** restic's DeriveModesFromFileInfo: a group-readable config makes the repo group-accessible. */
  private modes(s: Session): Promise<{ dir: number; file: number }> {
    const p = (this.modesP ??= call<Stats>(s, (cb) => s.sftp.stat(path.posix.join(this.root, 'config'), cb)).then(
      (st) => ((st.mode & 0o040) !== 0 ? { dir: DEFAULT_MODES.dir | 0o070, file: DEFAULT_MODES.file | 0o060 } : { ...DEFAULT_MODES }),
      (err: unknown) => {
        // Only an answer from the server decides; a lost link asks again next time.
        if (isConnectionLoss(err, s)) {
          if (this.modesP === p) this.modesP = undefined;
          throw err;
        }
        return { ...DEFAULT_MODES };
      },
    ));
    return p;
  }

  async create(opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const config = path.posix.join(this.root, 'config');
    await this.run(`create repository at ${this.location}`, async (s) => {
      const st = await call<Stats>(s, (cb) => s.sftp.lstat(config, cb)).catch((err: unknown) => {
        if (statusCode(err) === FX_NO_SUCH_FILE) return undefined;
        throw this.fail(s, `check for config file at ${this.location}`, err);
      });
      if (st) throw new ResticError(`config file already exists at ${this.location}`);
    });
    const dirs = ['data', 'index', 'keys', 'locks', 'snapshots'].map((d) => path.posix.join(this.root, d));
    // The parents first, then data/00..ff in parallel (bounded by the semaphore).
    for (const d of dirs) await this.run(`create directory ${d}`, (s) => this.mkdirAll(s, d));
    const data = dirs[0]!;
    const subdirs = Array.from({ length: 256 }, (_, i) => path.posix.join(data, i.toString(16).padStart(2, '0')));
    await Promise.all(subdirs.map((d) => this.run(`create directory ${d}`, (s) => this.mkdirAll(s, d))));
  }

  /** mkdir -p; an existing directory is fine (concurrent creators race harmlessly). */
  private async mkdirAll(s: Session, dir: string): Promise<void> {
    const { dir: mode } = await this.modes(s);
    try {
      await call<void>(s, (cb) => s.sftp.mkdir(dir, { mode }, cb));
      return;
    } catch (err) {
      if (isConnectionLoss(err, s)) throw err;
      const st = await call<Stats>(s, (cb) => s.sftp.stat(dir, cb)).catch(() => undefined);
      if (st?.isDirectory()) return;
      if (st) throw new ResticError(`cannot create directory ${dir} on ${this.endpoint}: a file is in the way`);
      const parent = path.posix.dirname(dir);
      if (parent === dir || parent === '.' || parent === '/') throw this.fail(s, `create directory ${dir}`, err);
      await this.mkdirAll(s, parent);
      try {
        await call<void>(s, (cb) => s.sftp.mkdir(dir, { mode }, cb));
      } catch (err2) {
        const st2 = await call<Stats>(s, (cb) => s.sftp.stat(dir, cb)).catch(() => undefined);
        if (!st2?.isDirectory()) throw this.fail(s, `create directory ${dir}`, err2);
      }
    }
  }

  async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const final = this.filename(h);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
    await this.run(`save ${describeHandle(h)}`, async (s) => {
      const modes = await this.modes(s);
      const tmp = `${final}-restic-temp-${randomBytes(16).toString('hex')}`;
      let handle: Buffer;
      try {
        handle = await call<Buffer>(s, (cb) => s.sftp.open(tmp, 'wx', { mode: modes.file }, cb));
      } catch (err) {
        if (statusCode(err) !== FX_NO_SUCH_FILE) throw this.fail(s, `save ${describeHandle(h)}`, err);
        // data/XX (or the type directory) is missing: make it, as restic does.
        await this.mkdirAll(s, path.posix.dirname(final));
        handle = await call<Buffer>(s, (cb) => s.sftp.open(tmp, 'wx', { mode: modes.file }, cb)).catch((e: unknown) => {
          throw this.fail(s, `save ${describeHandle(h)}`, e);
        });
      }
      let done = false;
      try {
        await writeAll(s, handle, buf);
        await call<void>(s, (cb) => s.sftp.close(handle, cb));
        await this.rename(s, tmp, final);
        done = true;
      } catch (err) {
        throw this.fail(s, `save ${describeHandle(h)}`, err);
      } finally {
        if (!done && s.alive) {
          // Do not leave a partial temp file behind (list ignores it, but it wastes space).
          await call<void>(s, (cb) => s.sftp.close(handle, cb)).catch(() => undefined);
          await call<void>(s, (cb) => s.sftp.unlink(tmp, cb)).catch(() => undefined);
        }
      }
    });
  }

  /** Move the finished temp file into place, replacing an existing file. */
  private async rename(s: Session, tmp: string, final: string): Promise<void> {
    if (s.posixRename !== false) {
      let sent = false;
      try {
        await call<void>(s, (cb) => {
          s.sftp.ext_openssh_rename(tmp, final, cb);
          sent = true; // ssh2 throws before sending when the server did not offer the extension
        });
        s.posixRename = true;
        return;
      } catch (err) {
        if (sent || !s.alive) throw err;
        s.posixRename = false;
      }
    }
    try {
      await call<void>(s, (cb) => s.sftp.rename(tmp, final, cb));
    } catch (err) {
      if (isConnectionLoss(err, s)) throw err;
      // SFTP v3 rename refuses to overwrite: remove the old file (same content for
      // content-addressed names) and try once more.
      await call<void>(s, (cb) => s.sftp.unlink(final, cb)).catch(() => undefined);
      await call<void>(s, (cb) => s.sftp.rename(tmp, final, cb));
    }
  }

  async load(h: Handle, offset = 0, length = 0, opts?: CallOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ResticError(`load ${describeHandle(h)}: invalid offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ResticError(`load ${describeHandle(h)}: invalid length ${length}`);
    const op = `load ${describeHandle(h)}`;
    return this.run(op, async (s) => {
      const sftp = h.type === 'pack' ? await bulkChannel(s) : s.sftp;
      let handle: Buffer;
      try {
        handle = await call<Buffer>(s, (cb) => sftp.open(file, 'r', cb));
      } catch (err) {
        throw this.fail(s, op, err, h);
      }
      try {
        const st = await call<Stats>(s, (cb) => sftp.fstat(handle, cb));
        const size = st.size;
        if (offset > size) throw new ResticError(`${op}: offset ${offset} is beyond the end of the file (${size} bytes)`);
        const n = length > 0 ? length : size - offset;
        if (offset + n > size)
          throw new ResticError(`${op}: range offset ${offset}, length ${length} is beyond the end of the file (${size} bytes)`);
        return await readAll(s, sftp, handle, offset, n);
      } catch (err) {
        throw this.fail(s, op, err, h);
      } finally {
        if (s.alive) await call<void>(s, (cb) => sftp.close(handle, cb)).catch(() => undefined);
      }
    });
  }

  async stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    const op = `stat ${describeHandle(h)}`;
    return this.run(op, async (s) => {
      try {
        const st = await call<Stats>(s, (cb) => s.sftp.lstat(file, cb));
        return { name: h.name, size: st.size };
      } catch (err) {
        throw this.fail(s, op, err, h);
      }
    });
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    throwIfAborted(opts?.signal);
    if (type === 'config') return;
    const base = path.posix.join(this.root, defaultLayoutDir(type));
    if (type !== 'pack') {
      yield* await this.listDir(base);
      return;
    }
    // Packs live one level down in data/XX: read several of those directories at once.
    const subdirs = (await this.readDir(base)).filter((e) => e.attrs.isDirectory() || e.attrs.isSymbolicLink()).map((e) => e.filename);
    subdirs.sort();
    const BATCH = 8;
    for (let i = 0; i < subdirs.length; i += BATCH) {
      throwIfAborted(opts?.signal);
      const lists = await Promise.all(subdirs.slice(i, i + BATCH).map((d) => this.listDir(path.posix.join(base, d))));
      for (const l of lists) yield* l;
    }
  }

  /** ID-named regular files in one directory (symlinks followed), with sizes. */
  private async listDir(dir: string): Promise<FileInfo[]> {
    const out: FileInfo[] = [];
    for (const e of await this.readDir(dir)) {
      if (!isIdName(e.filename)) continue;
      if (e.attrs.isFile()) {
        out.push({ name: e.filename, size: e.attrs.size });
      } else if (e.attrs.isSymbolicLink()) {
        const target = path.posix.join(dir, e.filename);
        const st = await this.run(`stat ${target}`, (s) => call<Stats>(s, (cb) => s.sftp.stat(target, cb))).catch(() => undefined);
        if (st?.isFile()) out.push({ name: e.filename, size: st.size });
      }
    }
    return out;
  }

  /** A directory listing; a missing directory is empty. */
  private readDir(dir: string): Promise<Array<{ filename: string; attrs: Stats }>> {
    return this.run(`list ${dir}`, async (s) => {
      try {
        return await call<Array<{ filename: string; attrs: Stats }>>(s, (cb) => s.sftp.readdir(dir, cb));
      } catch (err) {
        if (statusCode(err) === FX_NO_SUCH_FILE) return [];
        throw this.fail(s, `list directory ${dir}`, err);
      }
    });
  }

  async remove(h: Handle, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const file = this.filename(h);
    const op = `remove ${describeHandle(h)}`;
    await this.run(op, async (s) => {
      try {
        await call<void>(s, (cb) => s.sftp.unlink(file, cb));
      } catch (err) {
        if (statusCode(err) === FX_NO_SUCH_FILE) return;
        throw this.fail(s, op, err, h);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.sessionP;
    this.sessionP = undefined;
    if (!p) return;
    const s = await p.catch(() => undefined);
    if (s && !s.ended) {
      s.alive = false;
      s.ended = true;
      s.sock.ref(); // keep the process alive until the server has seen the goodbye
      await endSession(s);
    }
  }

  /** Like fileError, but a lost connection passes through unchanged (run() reconnects). */
  private fail(s: Session, op: string, err: unknown, h?: Handle): unknown {
    return isConnectionLoss(err, s) ? err : this.fileError(op, err, h);
  }

  /** An SFTP status as a typed one-line error. */
  private fileError(op: string, err: unknown, h?: Handle): ResticError {
    if (err instanceof ResticError) return err;
    const code = statusCode(err);
    const msg = (err as Error)?.message ?? String(err);
    if (code === FX_NO_SUCH_FILE && h) return new NotFoundError(`${describeHandle(h)} does not exist at ${this.location}`, { cause: err });
    if (code === FX_PERMISSION_DENIED)
      return new BackendRequestError(`${op}: permission denied on ${this.endpoint}`, false, undefined, { cause: err });
    return new BackendRequestError(`${op}: ${msg}`, false, undefined, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

/** Host key algorithms with the ones known_hosts lists for the host first (as OpenSSH orders them). */
function preferredHostKeyAlgorithms(knownTypes: string[]): string[] | undefined {
  const all = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const first: string[] = [];
  for (const t of knownTypes) {
    const algos = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algos) if (all.includes(a) && !first.includes(a)) first.push(a);
  }
  if (!first.length) return undefined;
  return [...first, ...all.filter((a) => !first.includes(a))];
}

function hostKeyError(v: ReturnType<typeof verifyHostKey>, name: string, file: string, blob: Buffer): HostKeyError {
  const fp = `${keyBlobType(blob)} ${fingerprint(blob)}`;
  switch (v.status) {
    case 'changed':
      return new HostKeyError(
        `host key verification failed: the host key of ${name} (${fp}) differs from ${file} line ${v.line}; someone may be intercepting the connection, refusing to connect`,
      );
    case 'revoked':
      return new HostKeyError(`host key verification failed: the host key of ${name} (${fp}) is marked @revoked in ${file} line ${v.line}`);
    default: {
      const others = v.status === 'unknown' && v.knownTypes.length ? ` (only ${v.knownTypes.join(', ')} keys are listed)` : '';
      return new HostKeyError(
        `host key verification failed: ${name} is not in ${file}${others}; its key is ${fp} — add it to known_hosts (e.g. ssh-keyscan) or pass -o sftp.insecure-host-key=true to skip the check`,
      );
    }
  }
}

/** Connect, then open the SFTP channel; the first error (with ssh2's `level`) rejects. */
function openSftp(client: Client, config: ConnectConfig): Promise<SFTPWrapper> {
  return new Promise<SFTPWrapper>((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | undefined, sftp?: SFTPWrapper) => {
      if (settled) return;
      settled = true;
      client.removeListener('close', onClose);
      if (err) reject(err);
      else resolve(sftp!);
    };
    const onClose = () => settle(new Error('connection closed during the SSH handshake'));
    // Stays: errors after the first are ignored here (watchSession() reports them).
    client.on('error', (err: Error) => settle(err));
    client.once('close', onClose);
    client.once('ready', () => client.sftp((err, sftp) => settle(err ?? undefined, sftp)));
    client.connect(config);
  });
}

/**
 * ref()/unref() a session's socket. Not on a destroyed socket: there Node adds a 'connect'
 * listener per call that never fires (a warning after ten failed requests on a dead server).
 */
function refSocket(sock: net.Socket | undefined, on: boolean): void {
  if (!sock || sock.destroyed) return;
  if (on) sock.ref();
  else sock.unref();
}

/** Mark the session lost (and fail what waits on it) when the connection or the channel ends. */
function watchSession(s: Session): void {
  const lost = sessionLost(s);
  s.client.on('error', lost('connection error'));
  s.client.on('close', lost('connection closed'));
  s.client.on('end', lost('connection ended'));
  watchChannel(s, s.sftp, lost);
}

/** A handler that marks the session lost (for `why`) and fails every request waiting on it. */
function sessionLost(s: Session): (why: string) => (e?: Error) => void {
  return (why) => (e) => {
    s.alive = false;
    s.lost ??= e ?? new Error(why);
    const waiting = [...s.pending];
    s.pending.clear();
    for (const p of waiting) p.reject(new Error(`connection lost (${s.lost.message})`));
  };
}

/** Losing any of the session's channels loses the session (its requests fail and it is dropped). */
function watchChannel(s: Session, sftp: SFTPWrapper, lost = sessionLost(s)): void {
  sftp.on('close', lost('SFTP channel closed'));
  sftp.on('end', lost('SFTP channel ended'));
  sftp.on('error', lost('SFTP channel error'));
}

/**
 * Extra SFTP channels on the session's connection for pack reads. OpenSSH serves each channel
 * with its own sftp-server process, answering in order, and each channel carries at most its
 * window (2 MiB) per round trip: pack reads spread over channels of their own move more data
 * per round trip and no longer hold up the lock and listing requests on the main channel.
 */
const BULK_CHANNELS = 4;

/** The channel for the next pack read: the extra ones in turn, the main one if the server refuses more. */
async function bulkChannel(s: Session): Promise<SFTPWrapper> {
  const i = s.bulkTurn++ % BULK_CHANNELS;
  s.bulk[i] ??= openBulk(s);
  return (await s.bulk[i]) ?? s.sftp;
}

function openBulk(s: Session): Promise<SFTPWrapper | null> {
  return new Promise((resolve) => {
    s.client.sftp((err, sftp) => {
      if (err || !s.alive) return resolve(null); // e.g. the server's MaxSessions
      watchChannel(s, sftp);
      resolve(sftp);
    });
  });
}

/** Say goodbye and wait until the connection is closed. */
function endSession(s: Session): Promise<void> {
  if (s.sock.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    s.sock.once('close', () => resolve());
    s.client.end();
    if (!s.sock.writable) s.sock.destroy(); // ssh2 sends nothing then, and the socket might linger
  });
}

function statusCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * Whether a failed request means the link is gone (then it may be repeated on a new
 * connection). SFTP status answers carry numeric codes; anything else on a session that
 * has since died, or ssh2's "No response from server", is a lost connection.
 */
function isConnectionLoss(err: unknown, s: Session): boolean {
  if (err instanceof ResticError) return false;
  if (statusCode(err) !== undefined) return false;
  if (!s.alive) return true;
  const msg = (err as Error)?.message ?? '';
  const code = (err as { code?: unknown })?.code;
  return (
    /No response from server|connection lost|not connected|channel|ECONNRESET|EPIPE/i.test(msg) || code === 'ECONNRESET' || code === 'EPIPE'
  );
}

/**
 * Promise form of one SFTP request on a session. ssh2 buffers requests for a channel that
 * is no longer open without ever answering them, so a request on a lost session fails at
 * once, and requests still waiting when the session is lost are failed by its loss handler.
 */
function call<T>(s: Session, fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (!s.alive) {
      reject(new Error(`connection lost (${s.lost?.message ?? 'SFTP channel closed'})`));
      return;
    }
    const pending = { reject };
    s.pending.add(pending);
    const timer = setTimeout(() => {
      s.lost ??= new Error(`no answer within ${s.requestTimeoutMs / 1000} s`);
      s.sock.destroy(); // the loss handler fails every request still waiting
    }, s.requestTimeoutMs);
    const done = (err: Error | null | undefined, value: T) => {
      clearTimeout(timer);
      s.pending.delete(pending);
      if (err) reject(err);
      else resolve(value);
    };
    try {
      fn(done);
    } catch (err) {
      done(err as Error, undefined as T);
    }
  });
}

/** Write a whole buffer with up to IO_PARALLEL requests in flight. */
async function writeAll(s: Session, handle: Buffer, data: Buffer): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < data.length) {
      const pos = next;
      const len = Math.min(IO_CHUNK, data.length - pos);
      next += len;
      await call<void>(s, (cb) => s.sftp.write(handle, data, pos, len, pos, cb as (err: Error | null | undefined) => void));
    }
  };
  await Promise.all(Array.from({ length: IO_PARALLEL }, worker));
}

/** Read exactly `length` bytes at `offset` (short reads continued), READ_PARALLEL requests in flight. */
async function readAll(s: Session, sftp: SFTPWrapper, handle: Buffer, offset: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafeSlow(length);
  let next = 0;
  const readChunk = async (start: number, len: number) => {
    let got = 0;
    while (got < len) {
      const n = await call<number>(s, (cb) =>
        sftp.read(handle, buf, start + got, len - got, offset + start + got, (err, bytesRead) => {
          if (err && (err as { code?: unknown }).code === FX_EOF) cb(undefined, 0);
          else cb(err, bytesRead);
        }),
      );
      if (n === 0) throw new ResticError(`unexpected end of file: wanted ${length} bytes at offset ${offset}, got ${start + got}`);
      got += n;
    }
  };
  const worker = async () => {
    while (next < length) {
      const start = next;
      const len = Math.min(IO_CHUNK, length - start);
      next += len;
      await readChunk(start, len);
    }
  };
  if (length > 0) await Promise.all(Array.from({ length: READ_PARALLEL }, worker));
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}
