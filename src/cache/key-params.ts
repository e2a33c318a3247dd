/**
 * The scrypt salt and parameters of the key file that last opened a repository, kept in the
 * cache base per repository location, so the next command derives the user key from process
 * start on, while it connects and reads the config and key files, instead of after. Only what
 * the key file shows anyone who can list the repository is kept (no key material, nothing
 * that tests a password guess); the key file itself is still read and its salt and parameters
 * compared before the derived key is used.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type KdfParams, SALT_SIZE, checkKdfParams } from '../crypto/kdf.js';
import { isId } from '../format/id.js';

/** What a key file's user key is derived from, and which key file it was. */
export interface KeyParams {
  keyId: string;
  salt: Uint8Array;
  params: KdfParams;
}

const DIR = 'key-params';

/** One file per repository location; the name hides the location (it may carry a password). */
function fileFor(base: string, location: string): string {
  return path.join(base, DIR, createHash('sha256').update(location).digest('hex'));
}

/** The remembered parameters for `location`, or undefined (none, unreadable or not sane). */
export function readKeyParams(base: string, location: string): KeyParams | undefined {
  try {
    const j = JSON.parse(fs.readFileSync(fileFor(base, location), 'utf8')) as Record<string, unknown>;
    const { keyId, salt, N, r, p } = j;
    if (typeof keyId !== 'string' || !isId(keyId) || typeof salt !== 'string') return undefined;
    const params = { N: Number(N), r: Number(r), p: Number(p) };
    checkKdfParams(params); // never start an absurd derivation from a tampered file
    const bytes = Buffer.from(salt, 'base64');
    if (bytes.length !== SALT_SIZE) return undefined;
    return { keyId, salt: new Uint8Array(bytes), params };
  } catch {
    return undefined;
  }
}

/** Remember `kp` for `location` (best effort: a read-only cache just means no head start). */
export function writeKeyParams(base: string, location: string, kp: KeyParams): void {
  const file = fileFor(base, location);
  const tmp = `${file}-tmp-${randomBytes(6).toString('hex')}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const j = { keyId: kp.keyId, salt: Buffer.from(kp.salt).toString('base64'), ...kp.params };
    fs.writeFileSync(tmp, JSON.stringify(j), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** Whether a key file's salt and parameters are those of `kp`. */
export function sameKeyParams(kp: KeyParams, salt: Uint8Array, params: KdfParams): boolean {
  return kp.params.N === params.N && kp.params.r === params.r && kp.params.p === params.p && Buffer.from(kp.salt).equals(Buffer.from(salt));
}
