/** Global options shared by all commands: repository location, password, output mode. */
import fs from 'node:fs';
import { execSync } from 'node:child_process';
import type { Backend } from '../backends/backend.js';
import { openLocation } from '../backends/location.js';
import { LimitedBackend, type RateLimits } from '../backends/limiter.js';
import { AbortableBackend } from '../backends/abortable.js';
import { UsageError } from '../errors.js';
import type { CompressionMode } from '../compress/zstd.js';
import type { KdfParams } from '../crypto/index.js';
import type { OpenOptions, Repository } from '../repository/repository.js';
import { defaultCacheBase, oldCacheDirs } from '../cache/dir.js';
import { isLocalStore } from '../cache/backend.js';
import type { LockOptions } from '../repository/lock.js';
import { runUnderLock, runWithOverlappedLock } from '../repository/overlapped-lock.js';
import { parseGoDuration } from '../go/duration.js';
import { type EarlyUserKey, findKey } from '../repository/key-search.js';
import { type KeyParams, readKeyParams, writeKeyParams } from '../cache/key-params.js';
import { takeKeyStartedAtLaunch } from './early-key.js';
import { deriveKey } from '../crypto/kdf.js';
import { parseMemorySize } from '../parallel/memory-budget.js';
import type { CommandInfo, OptionSpec, Parsed } from './args.js';

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'repo', short: 'r', kind: 'string', help: 'repository to back up to or restore from', env: 'RESTIC_REPOSITORY' },
  { name: 'repository-file', kind: 'string', help: 'file to read the repository location from', env: 'RESTIC_REPOSITORY_FILE' },
  { name: 'password-file', short: 'p', kind: 'string', help: 'file to read the repository password from', env: 'RESTIC_PASSWORD_FILE' },
  {
    name: 'password-command',
    kind: 'string',
    help: 'shell command to obtain the repository password from',
    env: 'RESTIC_PASSWORD_COMMAND',
  },
  { name: 'json', kind: 'bool', help: 'set output mode to JSON for commands that support it' },
  { name: 'quiet', short: 'q', kind: 'bool', help: 'do not output comprehensive progress report' },
  {
    name: 'verbose',
    short: 'v',
    kind: 'count',
    help: 'be verbose (specify multiple times or a level using --verbose=n, max level/times is 3)',
  },
  { name: 'no-lock', kind: 'bool', help: 'do not lock the repository, this allows some operations on read-only repositories' },
  {
    name: 'retry-lock',
    kind: 'string',
    help: 'retry to lock the repository if it is already locked, takes a value like 5m or 2h (default: no retries)',
  },
  {
    name: 'compression',
    kind: 'string',
    help: 'compression mode (only available for repository format version 2), one of (auto|off|max)',
    env: 'RESTIC_COMPRESSION',
  },
  {
    name: 'memory-limit',
    kind: 'string',
    help: 'memory this process may use, e.g. 128M or 1G, or "none" (default: the container\'s cgroup limit)',
    env: 'RESTIC_TS_MEMORY_LIMIT',
  },
  { name: 'key-hint', kind: 'string', help: 'key ID of key to try decrypting first', env: 'RESTIC_KEY_HINT' },
  { name: 'option', short: 'o', kind: 'list', help: 'set extended option (key=value, can be specified multiple times)' },
  {
    name: 'cache-dir',
    kind: 'string',
    help: 'set the cache directory (default: ~/.cache/restic-ts; remote repositories only)',
    env: 'RESTIC_CACHE_DIR',
  },
  { name: 'no-cache', kind: 'bool', help: 'do not use a local cache' },
  { name: 'cleanup-cache', kind: 'bool', help: 'auto remove old cache directories' },
  { name: 'cacert', kind: 'list', help: 'file to load root certificates from (default: use system certificates)' },
  { name: 'insecure-tls', kind: 'bool', help: 'skip TLS certificate verification when connecting to the repository (insecure)' },
  {
    name: 'ssh-key-file',
    kind: 'string',
    help: 'SSH private key for sftp: repositories (default: SSH_KEY_FILE, SSH_KEY, ~/.ssh/id_ed25519, id_ecdsa, id_rsa)',
  },
  {
    name: 'tls-client-cert',
    kind: 'string',
    help: 'path to a file containing PEM encoded TLS client certificate and private key (REST)',
    env: 'RESTIC_TLS_CLIENT_CERT',
  },
  { name: 'limit-upload', kind: 'string', help: 'limits uploads to a maximum rate in KiB/s. (default: unlimited)' },
  { name: 'limit-download', kind: 'string', help: 'limits downloads to a maximum rate in KiB/s. (default: unlimited)' },
  {
    name: 'pack-size',
    kind: 'string',
    help: 'set target pack size in MiB, created pack files may be larger',
    env: 'RESTIC_PACK_SIZE',
  },
  {
    name: 'stuck-request-timeout',
    kind: 'string',
    help: 'duration after which a remote request without progress fails and is retried (default 30s)',
  },
  { name: 'help', short: 'h', kind: 'bool', help: 'help for this command' },
];

export interface GlobalContext {
  opts: Parsed['opts'];
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  json: boolean;
  quiet: boolean;
  /**
   * Aborted by SIGINT/SIGTERM (set by main): passed to every operation the command runs, and
   * bound to every backend it opens (openBackend), so nothing is written after the signal.
   */
  signal?: AbortSignal;
  /** Every command (set by main; `generate` describes them). */
  commands?: () => Promise<CommandInfo[]>;
}

export function repositoryLocation(ctx: GlobalContext): string {
  let repo = ctx.opts['repo'] as string | undefined;
  const file = (ctx.opts['repository-file'] as string | undefined) ?? ctx.env.RESTIC_REPOSITORY_FILE;
  if (!repo && file) repo = fs.readFileSync(file, 'utf8').trim();
  repo ??= ctx.env.RESTIC_REPOSITORY;
  // chectl's name (server:backup -r), for users coming from chectl.
  if (!repo && ctx.env.BACKUP_REPOSITORY_URL) repo = ctx.env.BACKUP_REPOSITORY_URL;
  if (!repo) throw new UsageError('Please specify repository location (-r or --repository-file)');
  return repo;
}

export function openBackend(location: string, ctx?: GlobalContext): Backend {
  const backend = openLocation(location, {
    env: ctx?.env,
    extended: ctx ? extendedOptions(ctx, location) : {},
    cacert: ctx?.opts['cacert'] as string[] | undefined,
    insecureTls: !!ctx?.opts['insecure-tls'],
    sshKeyFile: ctx?.opts['ssh-key-file'] as string | undefined,
    tlsClientCert: ctx ? ((ctx.opts['tls-client-cert'] as string | undefined) ?? ctx.env.RESTIC_TLS_CLIENT_CERT) || undefined : undefined,
    stuckRequestTimeoutMs: ctx ? durationFlag(ctx, 'stuck-request-timeout') : undefined,
  });
  const limits = ctx ? rateLimits(ctx) : {};
  const limited = limits.uploadKiB || limits.downloadKiB ? new LimitedBackend(backend, limits) : backend;
  // after SIGINT/SIGTERM nothing more is written or deleted, whatever the command was doing
  return ctx?.signal ? new AbortableBackend(limited, ctx.signal) : limited;
}

/** A Go duration flag (`30s`, `5m`) in ms, undefined when not given; must be positive. */
function durationFlag(ctx: GlobalContext, name: string): number | undefined {
  const v = ctx.opts[name] as string | undefined;
  if (v === undefined || v === '') return undefined;
  let ms: number;
  try {
    ms = parseGoDuration(v);
  } catch {
    throw new UsageError(`invalid argument "${v}" for "--${name}" flag: time: invalid duration "${v}"`);
  }
  if (!(ms > 0)) throw new UsageError(`invalid argument "${v}" for "--${name}" flag: must be positive`);
  return ms;
}

/** Extended options the local backend understands (other backends check their own namespace). */
const LOCAL_OPTIONS = ['local.connections'];

/**
 * `-o key=value` options with restic's rules: an empty or repeated key is an error, and so is
 * an unknown key in the namespace of the repository's backend (`local.foo` for a local path).
 */
function extendedOptions(ctx: GlobalContext, location?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (ctx.opts['option'] as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    const key = (i < 0 ? kv : kv.slice(0, i)).trim();
    if (!key) throw new UsageError('empty key is not a valid option');
    if (key in out) throw new UsageError(`key ${JSON.stringify(key)} present more than once`);
    out[key] = i < 0 ? '' : kv.slice(i + 1);
    const local = location === undefined || !/^(rest|s3|sftp|b2|azure|gs|swift|rclone):/.test(location);
    if (local && key.startsWith('local.') && !LOCAL_OPTIONS.includes(key)) throw new UsageError(`option ${key} is not known`);
  }
  return out;
}

export function readPassword(ctx: GlobalContext): string {
  const file = (ctx.opts['password-file'] as string | undefined) ?? ctx.env.RESTIC_PASSWORD_FILE;
  const cmd = (ctx.opts['password-command'] as string | undefined) ?? ctx.env.RESTIC_PASSWORD_COMMAND;
  if (file && cmd) throw new UsageError('Password file and command are mutually exclusive options');
  if (file) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`Resolving password failed: ${(err as Error).message}`);
    }
  }
  if (cmd) {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['inherit', 'pipe', 'inherit'] }).trim();
    } catch (err) {
      throw new UsageError(`password command failed: ${(err as Error).message}`);
    }
  }
  if (ctx.env.RESTIC_PASSWORD !== undefined) return ctx.env.RESTIC_PASSWORD;
  if (ctx.env.BACKUP_REPOSITORY_PASSWORD !== undefined) return ctx.env.BACKUP_REPOSITORY_PASSWORD; // chectl's name
  if (!process.stdin.isTTY) {
    // restic reads the password from stdin when it is not a terminal
    const text = fs.readFileSync(0, 'utf8');
    return text.split('\n')[0]!.replace(/\r$/, '');
  }
  throw new UsageError('Resolving password failed: no password given (use --password-file, RESTIC_PASSWORD or RESTIC_PASSWORD_FILE)');
}

export function compressionOption(ctx: GlobalContext): CompressionMode | undefined {
  const c = (ctx.opts['compression'] as string | undefined) ?? ctx.env.RESTIC_COMPRESSION;
  if (c === undefined || c === '') return undefined;
  if (c !== 'auto' && c !== 'off' && c !== 'max') throw new UsageError(`invalid compression mode "${c}", must be one of (auto|off|max)`);
  return c;
}

/** `--memory-limit` / RESTIC_TS_MEMORY_LIMIT in bytes, null for "none", undefined when not given (the container's limit applies). */
export function memoryLimitOption(ctx: GlobalContext): number | null | undefined {
  const v = (ctx.opts['memory-limit'] as string | undefined) ?? ctx.env.RESTIC_TS_MEMORY_LIMIT;
  if (v === undefined || v === '') return undefined;
  if (/^\s*none\s*$/i.test(v)) return null;
  const n = parseMemorySize(v);
  if (n === null) throw new UsageError(`invalid memory limit "${v}": use a size such as 128M or 1G, or "none"`);
  return n;
}

/**
 * scrypt parameters for new keys. restic calibrates; RESTIC_TS_SCRYPT="N:r:p" lets tests
 * and embedded users choose cheaper (or stronger) parameters explicitly.
 */
export function kdfOverride(env: NodeJS.ProcessEnv): KdfParams | undefined {
  const v = env.RESTIC_TS_SCRYPT;
  if (!v) return undefined;
  const m = /^(\d+):(\d+):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`RESTIC_TS_SCRYPT must look like N:r:p, got ${JSON.stringify(v)}`);
  return { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
}

/** The cache base directory: --cache-dir, RESTIC_CACHE_DIR, else the default. */
export function cacheBase(ctx: GlobalContext): string {
  return (ctx.opts['cache-dir'] as string | undefined) || defaultCacheBase(ctx.env);
}

/**
 * Where the scrypt parameters of the key that opened a repository are remembered
 * (cache/key-params.ts): the cache base, unless there is no cache (--no-cache, local store).
 */
function keyParamsDir(ctx: GlobalContext, backend: Backend): string | undefined {
  return ctx.opts['no-cache'] || isLocalStore(backend) ? undefined : cacheBase(ctx);
}

/** Remember a key's scrypt parameters for `location` (see keyParamsDir). */
export function rememberKeyParams(ctx: GlobalContext, backend: Backend, location: string, kp: KeyParams): void {
  const dir = keyParamsDir(ctx, backend);
  if (dir) writeKeyParams(dir, location, kp);
}

/**
 * The cache for openRepository: none with --no-cache, else in `dir` (default cacheBase),
 * its reports (a damaged cached file re-fetched) on stderr.
 */
function cacheOption(ctx: GlobalContext, dir?: string | false): OpenOptions['cache'] {
  if (ctx.opts['no-cache'] || dir === false) return false;
  return { dir: dir ?? cacheBase(ctx), onEvent: (m) => ctx.stderr(`${m}\n`) };
}

/** After opening a cache: --cleanup-cache removes old cache dirs, else restic's hint about them. */
async function oldCacheDirsNote(ctx: GlobalContext, repo: Repository): Promise<void> {
  const base = repo.cacheDir();
  if (!base) return;
  const old = await oldCacheDirs(base).catch(() => []);
  if (!old.length) return;
  if (!ctx.opts['cleanup-cache']) {
    // restic says so on a terminal only
    if (!ctx.quiet && !ctx.json && process.stdout.isTTY) {
      ctx.stdout(`found ${old.length} old cache directories in ${base}, run \`restic-ts cache --cleanup\` to remove them\n`);
    }
    return;
  }
  if (!ctx.quiet) ctx.stdout(`removing ${old.length} old cache dirs from ${base}\n`);
  for (const d of old) {
    await fs.promises
      .rm(d.path, { recursive: true, force: true })
      .catch((err: Error) => ctx.stderr(`unable to remove ${d.path}: ${err.message}\n`));
  }
}

export interface OpenRepositoryHow {
  /** Cache base directory instead of the default one (check's temporary cache); false: none. */
  cacheDir?: string | false;
  /** Files to list while scrypt runs, once the config was read (OpenOptions.listings). */
  listEarly?: Array<'lock' | 'index' | 'snapshot'>;
  /** Called with those listings as they start, while the key is still to be derived. */
  whileOpening?: (listings: EarlyListings) => void;
}

type EarlyListings = Partial<Record<'lock' | 'index' | 'snapshot', Promise<string[]>>>;

/**
 * The user key derived from the scrypt parameters the last command remembered for this
 * location (cache/key-params.ts), started now: it runs while the process connects and reads
 * the config and key files. None without a cache.
 */
function earlyUserKey(base: string | undefined, location: string, password: string): EarlyUserKey | undefined {
  if (!base) return undefined;
  const atLaunch = takeKeyStartedAtLaunch(base, location, password);
  if (atLaunch) return atLaunch;
  const kdf = readKeyParams(base, location);
  if (!kdf) return undefined;
  const userKey = deriveKey(password, kdf.salt, kdf.params);
  userKey.catch(() => undefined); // used only if the key file matches; its user sees the error
  return { kdf, userKey };
}

/** The names of one file type, listed from the start (see OpenRepositoryHow.listEarly). */
async function listNames(backend: Backend, type: 'lock' | 'index' | 'snapshot'): Promise<string[]> {
  const names: string[] = [];
  for await (const f of backend.list(type)) names.push(f.name);
  return names;
}

export async function openRepository(ctx: GlobalContext, how: OpenRepositoryHow = {}): Promise<Repository> {
  const location = repositoryLocation(ctx);
  const backend = openBackend(location, ctx);
  try {
    const password = readPassword(ctx);
    const keyHint = (ctx.opts['key-hint'] as string | undefined) ?? ctx.env.RESTIC_KEY_HINT;
    // As the library's default: a local repository gains nothing from a copy on local disk.
    const cache = isLocalStore(backend) ? false : cacheOption(ctx, how.cacheDir);
    // in the user's cache base also when this command's cache is a temporary one (check)
    const keyParamsBase = cache ? keyParamsDir(ctx, backend) : undefined;
    const early = earlyUserKey(keyParamsBase, location, password);
    // Config, then the key search: scrypt runs on the thread pool while the repository
    // modules load (from process start, with remembered parameters). Nothing else is
    // requested before the config has been read (a refused login is one request);
    // Repository.open reports both in restic's order.
    const config = backend.load({ type: 'config', name: 'config' });
    const key = config.then(() => findKey(backend, password, keyHint, undefined, early));
    key.catch(() => undefined);
    const listings: EarlyListings = Object.fromEntries(
      (how.listEarly ?? []).map((type) => {
        const names = config.then(() => listNames(backend, type));
        names.catch(() => undefined); // listed again when it is needed
        return [type, names];
      }),
    );
    how.whileOpening?.(listings);
    // Loaded here, not at start-up: commands that never open a repository skip its module graph.
    const { Repository } = await import('../repository/repository.js');
    const repo = await Repository.open(backend, password, {
      compression: compressionOption(ctx),
      keyHint,
      config,
      key,
      listings,
      cache,
      memoryLimit: memoryLimitOption(ctx),
      packSize: packSizeOption(ctx),
      // --no-lock: library operations run without their default lock (commands that always lock take it here).
      lock: !ctx.opts['no-lock'],
      signal: ctx.signal,
      stopSignal: ctx.signal,
    });
    await oldCacheDirsNote(ctx, repo);
    const opened = await key.catch(() => undefined);
    if (keyParamsBase && opened?.kdf && opened.keyId !== early?.kdf.keyId) writeKeyParams(keyParamsBase, location, opened.kdf);
    return repo;
  } catch (err) {
    // Release connections (SSH sessions, sockets) so the process can exit after the error.
    await backend.close().catch(() => undefined);
    throw err;
  }
}

/** --limit-upload/--limit-download (KiB/s, Go ints: 0 or negative means unlimited). */
function rateLimits(ctx: GlobalContext): RateLimits {
  const kib = (name: string): number => {
    const v = ctx.opts[name] as string | undefined;
    if (v === undefined) return 0;
    if (!/^[+-]?\d+$/.test(v))
      throw new UsageError(`invalid argument "${v}" for "--${name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
    return Math.max(0, Number(v));
  };
  return { uploadKiB: kib('limit-upload'), downloadKiB: kib('limit-download') };
}

/** --pack-size in MiB (or RESTIC_PACK_SIZE), with restic's bounds of 4 and 128 MiB; 0 = default. */
function packSizeOption(ctx: GlobalContext): number | undefined {
  const flag = ctx.opts['pack-size'] as string | undefined;
  const v = flag ?? ctx.env.RESTIC_PACK_SIZE;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) {
    if (flag !== undefined)
      throw new UsageError(`invalid argument "${v}" for "--pack-size" flag: strconv.ParseUint: parsing "${v}": invalid syntax`);
    throw new UsageError(`invalid value for RESTIC_PACK_SIZE "${v}": strconv.ParseUint: parsing "${v}": invalid syntax`);
  }
  const mib = Number(v);
  if (mib === 0) return undefined;
  if (mib > 128) throw new UsageError('pack size larger than limit of 128 MiB');
  if (mib < 4) throw new UsageError('pack size smaller than minimum of 4 MiB');
  return mib * 1024 * 1024;
}

/** `--retry-lock` as milliseconds (0 when not given). */
function retryLockOption(ctx: GlobalContext): number {
  const v = ctx.opts['retry-lock'] as string | undefined;
  if (v === undefined || v === '') return 0;
  let ms: number;
  try {
    ms = parseGoDuration(v);
  } catch {
    throw new UsageError(`invalid argument "${v}" for "--retry-lock" flag: time: invalid duration "${v}"`);
  }
  if (ms < 0) throw new UsageError(`invalid argument "${v}" for "--retry-lock" flag: must not be negative`);
  return ms;
}

/**
 * Lock options for CLI commands: --retry-lock, and one stderr line for every stale lock
 * removed so an unattended run says what it cleaned up.
 */
export function lockOptions(ctx: GlobalContext): LockOptions {
  return {
    retryMs: retryLockOption(ctx),
    onEvent: (e) => {
      if (e.type === 'stale-lock-removed' || e.type === 'refresh-failed') ctx.stderr(`${e.message}\n`);
      else if (e.type === 'waiting' && !ctx.quiet) ctx.stderr(`${e.message}\n`);
    },
  };
}

/** backup's shared lock, taken while the work already reads (see runWithOverlappedLock). */
export function withOverlappedLock<T>(
  ctx: GlobalContext,
  repo: Repository,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  return runWithOverlappedLock(repo, run, { ...lockOptions(ctx), signal: ctx.signal });
}

/**
 * Run `fn` under a repository lock unless --no-lock was given and the command honours it
 * (restic's backup, key, migrate and prune always lock). A signal releases the lock through
 * the handler installed by main.
 */
export async function withLock<T>(
  ctx: GlobalContext,
  repo: Repository,
  exclusive: boolean,
  fn: () => Promise<T>,
  how: { honourNoLock?: boolean } = {},
): Promise<T> {
  if (ctx.opts['no-lock'] && (how.honourNoLock ?? true)) return fn();
  return runUnderLock(repo, await repo.acquireLock(exclusive, lockOptions(ctx)), fn);
}
