/**
 * The user key derived from the moment the CLI starts, before its modules load: with the scrypt
 * parameters the last command remembered for the repository (cache/key-params.ts), scrypt
 * runs on the thread pool while the process loads, connects and reads the config and key
 * files. Only for the plain cases (location from -r/--repo or RESTIC_REPOSITORY, password from
 * RESTIC_PASSWORD); openRepository uses it only if its own location, password and cache base
 * turn out the same, and otherwise derives as before.
 */
import { readKeyParams } from '../cache/key-params.js';
import { defaultCacheBase } from '../cache/dir.js';
import { deriveKey } from '../crypto/kdf.js';
import type { EarlyUserKey } from '../repository/key-search.js';

/** Commands that open the repository named by -r (the others would only waste the derivation). */
const OPENS_REPOSITORY = new Set([
  'backup',
  'cat',
  'check',
  'copy',
  'diff',
  'dump',
  'find',
  'forget',
  'key',
  'list',
  'ls',
  'migrate',
  'prune',
  'rebuild-index',
  'recover',
  'repair',
  'restore',
  'rewrite',
  'snapshots',
  'stats',
  'tag',
  'unlock',
]);

/** Password and location sources this shortcut does not read: their presence turns it off. */
const OTHER_SOURCES = ['-p', '--password-file', '--password-command', '--repository-file', '--insecure-no-password', '--no-cache'];
const OTHER_ENV = ['RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_REPOSITORY_FILE'];

interface Started {
  base: string;
  location: string;
  password: string;
  key: EarlyUserKey;
}

let started: Started | undefined;

/** The value of a string flag (-r X, -rX, -r=X, --repo X, --repo=X), if given. */
function flagValue(argv: string[], long: string, short?: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === `--${long}` || (short && a === `-${short}`)) value = argv[++i];
    else if (a.startsWith(`--${long}=`)) value = a.slice(long.length + 3);
    else if (short && a.startsWith(`-${short}`) && !a.startsWith('--')) value = a.slice(2).replace(/^=/, '');
  }
  return value;
}

/** What the arguments say, when they are plain enough; undefined otherwise. */
function plainStart(argv: string[], env: NodeJS.ProcessEnv): Omit<Started, 'key'> | undefined {
  if (!argv.some((a) => OPENS_REPOSITORY.has(a))) return undefined;
  if (argv.some((a) => OTHER_SOURCES.some((s) => a === s || a.startsWith(`${s}=`)))) return undefined;
  if (OTHER_ENV.some((k) => env[k]) || env.RESTIC_PASSWORD === undefined) return undefined;
  const location = flagValue(argv, 'repo', 'r') ?? env.RESTIC_REPOSITORY;
  if (!location) return undefined;
  const base = flagValue(argv, 'cache-dir') || defaultCacheBase(env);
  return { base, location, password: env.RESTIC_PASSWORD };
}

/** Start deriving the user key now, if the arguments are plain and parameters are remembered. */
export function startKeyAtLaunch(argv: string[], env: NodeJS.ProcessEnv): void {
  started = undefined;
  const s = plainStart(argv, env);
  const kdf = s && readKeyParams(s.base, s.location);
  if (!s || !kdf) return;
  const userKey = deriveKey(s.password, kdf.salt, kdf.params);
  userKey.catch(() => undefined); // used only if it matches; its user sees the error
  started = { ...s, key: { kdf, userKey } };
}

/**
 * The derivation started at launch, once, if it was for this cache base, location and
 * password (copy opens its source repository too: that one leaves it for the destination).
 */
export function takeKeyStartedAtLaunch(base: string, location: string, password: string): EarlyUserKey | undefined {
  const s = started;
  if (!s || s.base !== base || s.location !== location || s.password !== password) return undefined;
  started = undefined;
  return s.key;
}
