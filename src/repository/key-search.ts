/** Finding the key file a password opens. */
import type { Backend } from '../backends/backend.js';
import { IntegrityError, RepositoryNotFoundError, WrongPasswordError } from '../errors.js';
import { type MasterKey, loadPoly1305 } from '../crypto/index.js';
import { hashId } from '../format/id.js';
import { decodeKeyFile, openKeyFile } from '../format/key.js';

export interface OpenedKey {
  master: MasterKey;
  keyId: string;
}

/** restic tries at most this many key files before giving up. */
const MAX_KEYS = 20;

/**
 * The first key file (by ID, the hinted one first) that the password opens, as restic's
 * SearchKey does.
 */
export async function findKey(backend: Backend, password: string, hint?: string, signal?: AbortSignal): Promise<OpenedKey> {
  const ids: string[] = [];
  for await (const f of backend.list('key', { signal })) ids.push(f.name);
  ids.sort();
  if (hint) {
    const i = ids.findIndex((id) => id.startsWith(hint));
    if (i > 0) ids.unshift(...ids.splice(i, 1));
  }
  if (!ids.length) throw new RepositoryNotFoundError(`repository at ${backend.location} has no key files`);
  for (const keyId of ids.slice(0, MAX_KEYS)) {
    const bytes = await backend.load({ type: 'key', name: keyId }, 0, 0, { signal });
    if (hashId(bytes) !== keyId) throw new IntegrityError(`key file ${keyId}: content does not match its name (file is damaged)`);
    const opening = openKeyFile(decodeKeyFile(bytes, keyId), password, keyId);
    // scrypt now runs on the thread pool: the main thread is free to load the WASM MAC (once)
    loadPoly1305().catch(() => undefined); // its users await it and see the error
    const master = await opening;
    if (master) return { master, keyId };
  }
  throw new WrongPasswordError('wrong password or no key found');
}
