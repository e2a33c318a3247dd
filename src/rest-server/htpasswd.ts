/**
 * .htpasswd users for the REST server, with rest-server's rules: `user:hash` lines, `#`
 * comments, user names of letters, digits and `@._-`; bcrypt (`$2a$`, `$2b$`, `$2y$`, cost 4..20,
 * computed by bcryptjs) and `{SHA}` (base64 SHA-1) hashes. Other hash kinds (MD5-crypt
 * `$apr1$`, crypt, bcrypt's old `$2$`/`$2x$`) never match.
 * A successful check is cached for a minute (keyed by a SHA-256 of user and password) so
 * bcrypt does not run on every request, as rest-server does. Beyond rest-server: bcrypt runs
 * on worker threads (bcrypt-pool.ts), an unknown user costs the same bcrypt as a known one
 * (no user names found by timing), and a client with too many failed checks in a row is
 * refused without hashing for a while (see FailureLimiter).
 * The file is re-read when its size or mtime changes (checked at most every few seconds) or
 * when `reload()` is called (SIGHUP in the CLI).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import bcrypt from 'bcryptjs';
import { ResticError } from '../errors.js';
import { BcryptPool } from './bcrypt-pool.js';

const USER_RE = /^[\p{L}\d@._-]+$/u;
const CACHE_MS = 60_000;
const CHECK_INTERVAL_MS = 5_000;

class HtpasswdError extends ResticError {}

const BCRYPT_RE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
/** Costs above this are refused: at 2^20 rounds one check would take minutes in JavaScript. */
const BCRYPT_MAX_COST = 20;

/** A complete `$2b$cost$salthash` string from a 16-byte salt (for writing htpasswd files and tests). */
export function bcryptHash(password: string, salt: Uint8Array, cost = 10, prefix: '2a' | '2b' | '2y' = '2b'): Promise<string> {
  if (salt.length !== 16) throw new Error('bcrypt salt must be 16 bytes');
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new Error(`invalid bcrypt cost ${cost}`);
  return bcrypt.hash(password, `$${prefix}$${String(cost).padStart(2, '0')}$${bcrypt.encodeBase64(salt, 16)}`);
}

/**
 * Check a password against a bcrypt hash; false for malformed hashes. As Go's bcrypt (which
 * rest-server uses): the stored salt text is used as it is and the hash text compared.
 */
export async function bcryptVerify(password: string, hash: string, pool?: BcryptPool): Promise<boolean> {
  const m = BCRYPT_RE.exec(hash);
  if (!m || Number(m[1]) < 4 || Number(m[1]) > BCRYPT_MAX_COST) return false;
  const salt = hash.slice(0, 29);
  const got = Buffer.from(pool ? await pool.hash(password, salt) : await bcrypt.hash(password, salt));
  const want = Buffer.from(hash);
  return got.length === want.length && timingSafeEqual(got.subarray(29), want.subarray(29));
}

/** Parse htpasswd text; invalid user names are skipped (and reported through `warn`). */
export function parseHtpasswd(text: string, warn: (msg: string) => void = () => {}): Map<string, string> {
  const users = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i < 0) {
      warn(`ignoring htpasswd line without ":"`);
      continue;
    }
    const user = line.slice(0, i);
    const hash = line.slice(i + 1).trim();
    if (!USER_RE.test(user)) {
      warn(`ignoring invalid user name ${JSON.stringify(user)} in htpasswd (allowed: letters, digits, '_', '-', '.', '@')`);
      continue;
    }
    users.set(user, hash);
  }
  return users;
}

/** Check one password against one htpasswd hash. */
export async function checkHash(hash: string, password: string, pool?: BcryptPool): Promise<boolean> {
  if (hash.startsWith('{SHA}')) {
    const want = Buffer.from(hash.slice(5));
    const got = Buffer.from(createHash('sha1').update(password, 'utf8').digest('base64'));
    return want.length === got.length && timingSafeEqual(want, got);
  }
  if (hash.startsWith('$2')) return bcryptVerify(password, hash, pool);
  return false;
}

/** A hash no password matches, as costly to check as the file's bcrypt entries. */
function decoyHash(users: Map<string, string>): string {
  const costs = [...users.values()]
    .map((h) => BCRYPT_RE.exec(h))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));
  const valid = costs.filter((c) => c >= 4 && c <= BCRYPT_MAX_COST);
  if (!valid.length) return `{SHA}${randomBytes(20).toString('base64')}`;
  const cost = String(Math.max(...valid)).padStart(2, '0');
  return `$2b$${cost}$${bcrypt.encodeBase64(randomBytes(16), 16)}${bcrypt.encodeBase64(randomBytes(23), 23)}`;
}

/** How many failed checks in a row a client may make before it must wait. */
const MAX_FAILURES = 10;
/** How long such a client is refused without a check. */
const BLOCK_MS = 60_000;

/**
 * Failed password checks per client (IP address). After MAX_FAILURES in a row the client
 * is refused for BLOCK_MS without hashing; a success clears its count. Bounded in memory:
 * the oldest clients are forgotten first.
 */
class FailureLimiter {
  private readonly clients = new Map<string, { failures: number; blockedUntil: number }>();

  constructor(
    readonly maxFailures = MAX_FAILURES,
    readonly blockMs = BLOCK_MS,
    private readonly maxClients = 10_000,
  ) {}

  /** ms until `client` may try again (0: now). */
  blockedFor(client: string, now = Date.now()): number {
    const c = this.clients.get(client);
    return c && c.blockedUntil > now ? c.blockedUntil - now : 0;
  }

  failed(client: string, now = Date.now()): void {
    const c = this.clients.get(client) ?? { failures: 0, blockedUntil: 0 };
    this.clients.delete(client); // re-inserted last: the map stays in age order
    if (c.blockedUntil && c.blockedUntil <= now) c.failures = 0;
    c.failures++;
    c.blockedUntil = c.failures >= this.maxFailures ? now + this.blockMs : 0;
    this.clients.set(client, c);
    if (this.clients.size > this.maxClients) this.clients.delete(this.clients.keys().next().value!);
  }

  succeeded(client: string): void {
    this.clients.delete(client);
  }
}

/** What a password check says: accepted, refused, or not checked (the client must wait). */
export type AuthResult = { ok: true } | { ok: false; retryAfterMs?: number };

export class Htpasswd {
  private users = new Map<string, string>();
  private decoy = '';
  private readonly cache = new Map<string, { verifier: Buffer; expiry: number }>();
  private stamp = '';
  private lastCheck = 0;
  private readonly pool = new BcryptPool();
  readonly limiter = new FailureLimiter();

  private constructor(
    readonly file: string,
    private readonly warn: (msg: string) => void,
  ) {}

  /** Load the file; a missing or unreadable file is an error. */
  static load(file: string, warn: (msg: string) => void = () => {}): Htpasswd {
    const h = new Htpasswd(file, warn);
    h.reload();
    return h;
  }

  get size(): number {
    return this.users.size;
  }

  /** Re-read the file; on failure the old users stay and the error is thrown. */
  reload(): void {
    let text: string;
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new HtpasswdError(`cannot load htpasswd file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.users = parseHtpasswd(text, this.warn);
    this.decoy = decoyHash(this.users);
    this.cache.clear();
    this.stamp = `${st.size}:${st.mtimeMs}`;
    this.lastCheck = Date.now();
  }

  private maybeReload(): void {
    const now = Date.now();
    if (now - this.lastCheck < CHECK_INTERVAL_MS) return;
    this.lastCheck = now;
    try {
      const st = fs.statSync(this.file);
      if (`${st.size}:${st.mtimeMs}` !== this.stamp) this.reload();
    } catch (err) {
      this.warn(`could not re-read ${this.file}: ${(err as Error).message}`);
    }
  }

  async validate(user: string, password: string): Promise<boolean> {
    return (await this.check(user, password)).ok;
  }

  /**
   * Check credentials for `client` (its address): a cached success passes at once, even for
   * a client that is being refused; otherwise a blocked client is refused unchecked.
   */
  async check(user: string, password: string, client = ''): Promise<AuthResult> {
    this.maybeReload();
    const hash = this.users.get(user);
    const verifier = createHash('sha256').update(user).update(':').update(password).digest();
    const now = Date.now();
    const cached = hash !== undefined ? this.cache.get(user) : undefined;
    if (cached && cached.expiry > now && timingSafeEqual(cached.verifier, verifier)) {
      cached.expiry = now + CACHE_MS;
      return { ok: true };
    }
    const wait = this.limiter.blockedFor(client, now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    // an unknown user costs a check against the decoy, so timing does not tell names apart
    const good = (await checkHash(hash ?? this.decoy, password, this.pool)) && hash !== undefined;
    if (!good) {
      this.limiter.failed(client);
      return { ok: false };
    }
    this.limiter.succeeded(client);
    if (this.users.get(user) === hash) this.cache.set(user, { verifier, expiry: now + CACHE_MS });
    return { ok: true };
  }

  /** Stop the bcrypt workers. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
