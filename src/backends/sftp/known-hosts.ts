/**
 * OpenSSH known_hosts checking for the SFTP backend: the server's host key must be listed
 * for the host (as `host` on port 22, `[host]:port` otherwise), in plain or hashed
 * (`|1|salt|hmac`) form, with `*`/`?` wildcards and `!` negations in pattern lists.
 * `@revoked` entries refuse a key; `@cert-authority` lines are skipped (no certificates here).
 */
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';

export interface KnownHostEntry {
  line: number;
  marker?: 'revoked' | 'cert-authority';
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'ok'; line: number }
  /** No entry for this host at all, or only entries of other key types. */
  | { status: 'unknown'; knownTypes: string[] }
  /** An entry of the same type with a different key: possibly an attack. */
  | { status: 'changed'; line: number }
  | { status: 'revoked'; line: number };

/** The name OpenSSH looks up: `host` on the default port, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Key type named inside an SSH public key blob (its first string). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  return blob.toString('latin1', 4, Math.min(blob.length, 4 + n));
}

/** `SHA256:…` as ssh-keygen -l prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Entries of a known_hosts file that apply to `name` (a missing file has none). */
export function readKnownHosts(file: string, name: string): KnownHostEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseKnownHosts(text, name);
}

export function parseKnownHosts(text: string, name: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, keyType, keyB64] = fields;
    if (!hosts || !keyType || !keyB64) continue;
    if (!hostsMatch(hosts, name)) continue;
    const key = Buffer.from(keyB64, 'base64');
    if (key.length === 0) continue;
    out.push({ line: i + 1, marker, keyType, key });
  }
  return out;
}

/** Decide on the server's key blob given the entries for its host name. */
export function verifyHostKey(entries: KnownHostEntry[], blob: Buffer): HostKeyVerdict {
  const type = keyBlobType(blob);
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(blob));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const plain = entries.filter((e) => e.marker === undefined);
  const match = plain.find((e) => e.key.equals(blob));
  if (match) return { status: 'ok', line: match.line };
  // A different key of the same type is a change; only other types means "not known yet".
  const sameType = plain.find((e) => keyBlobType(e.key) === type);
  if (sameType) return { status: 'changed', line: sameType.line };
  return { status: 'unknown', knownTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** Key types listed for a host, to prefer them in the key exchange as OpenSSH does. */
export function knownKeyTypes(entries: KnownHostEntry[]): string[] {
  return [...new Set(entries.filter((e) => e.marker === undefined).map((e) => e.keyType))];
}

/** A comma-separated pattern list (or one hashed entry) against a host name. */
function hostsMatch(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) return hashedMatch(hosts, name);
  let matched = false;
  for (const p of hosts.split(',')) {
    if (!p) continue;
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false; // a negated match wins
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` as written by `ssh-keygen -H`. */
function hashedMatch(entry: string, name: string): boolean {
  const parts = entry.split('|');
  if (parts.length !== 4 || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const want = Buffer.from(parts[3], 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return got.equals(want);
}

/** OpenSSH's match_pattern: `*` any run, `?` one character, case-insensitive for host names. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
        .join('') +
      '$',
    'i',
  );
  return re.test(name);
}
