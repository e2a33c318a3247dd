/** Finding the key file a password opens. */
import type { Backend } from '../backends/backend.js';
import { IntegrityError, RepositoryNotFoundError, WrongPasswordError } from '../errors.js';
import { type MasterKey, loadPoly1305 } from '../crypto/index.js';
import { hashId } from '../format/id.js';
import { type KeyFile, decodeKeyFile, openKeyFile } from '../format/key.js';
import { type KeyParams, sameKeyParams } from '../cache/key-params.js';

export interface OpenedKey {
  master: MasterKey;
  keyId: string;
  /** The opening key file's salt and scrypt parameters (remembered for a head start). */
  kdf?: KeyParams;
}

/** A user key derived ahead, from remembered parameters (see cache/key-params.ts). */
export interface EarlyUserKey {
  kdf: KeyParams;
  userKey: Promise<MasterKey>;
}

/** restic tries at most this many key files before giving up. */
const MAX_KEYS = 20;

/**
 * The first key file (by ID, the hinted one first) that the password opens, as restic's
 * SearchKey does.
 */
export async function findKey(
  backend: Backend,
  password: string,
  hint?: string,
  signal?: AbortSignal,
  early?: EarlyUserKey,
): Promise<OpenedKey> {
  const ids: string[] = [];
  for await (const f of backend.list('key', { signal })) ids.push(f.name);
  ids.sort();
  // the hinted key first, else the one whose user key is being derived already
  for (const want of [early?.kdf.keyId, hint]) {
    const i = want ? ids.findIndex((id) => id.startsWith(want)) : -1;
    if (i > 0) ids.unshift(...ids.splice(i, 1));
  }
  if (!ids.length) throw new RepositoryNotFoundError(`repository at ${backend.location} has no key files`);
  for (const keyId of ids.slice(0, MAX_KEYS)) {
    const bytes = await backend.load({ type: 'key', name: keyId }, 0, 0, { signal });
    if (hashId(bytes) !== keyId) throw new IntegrityError(`key file ${keyId}: content does not match its name (file is damaged)`);
    const file = decodeKeyFile(bytes, keyId);
    const opening = openKeyFile(file, password, keyId, reusable(early, keyId, file));
    // scrypt now runs on the thread pool: the main thread is free to load the WASM MAC (once)
    loadPoly1305().catch(() => undefined); // its users await it and see the error
    const master = await opening;
    if (master) return { master, keyId, kdf: { keyId, salt: file.salt, params: { N: file.N, r: file.r, p: file.p } } };
  }
  throw new WrongPasswordError('wrong password or no key found');
}

/** The early user key, if it was derived from exactly this key file's salt and parameters. */
function reusable(early: EarlyUserKey | undefined, keyId: string, file: KeyFile): Promise<MasterKey> | undefined {
  if (!early || early.kdf.keyId !== keyId) return undefined;
  return sameKeyParams(early.kdf, file.salt, { N: file.N, r: file.r, p: file.p }) ? early.userKey : undefined;
}
