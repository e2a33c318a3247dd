/**
 * Key files (`keys/<id>`): plain JSON holding scrypt parameters, a salt and the master
 * key encrypted with the key derived from the user's password.
 */
import os from 'node:os';
import { FormatError, IntegrityError } from '../errors.js';
import {
  type KdfParams,
  type MasterKey,
  checkKdfParams,
  decodeMasterKey,
  decrypt,
  deriveKey,
  encodeMasterKey,
  encrypt,
  newSalt,
} from '../crypto/index.js';
import { goJsonString } from '../go/json-string.js';
import { nowGoTime } from '../go/time.js';
import { hashId } from './id.js';

/** A key file: scrypt parameters and the encrypted master key, with who created it. */
export interface KeyFile {
  created: string;
  username: string;
  hostname: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: Uint8Array;
  data: Uint8Array;
}

export function encodeKeyFile(k: KeyFile): Uint8Array {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  const json =
    `{"created":${goJsonString(k.created)},"username":${goJsonString(k.username)},` +
    `"hostname":${goJsonString(k.hostname)},"kdf":${goJsonString(k.kdf)},` +
    `"N":${k.N},"r":${k.r},"p":${k.p},"salt":"${b64(k.salt)}","data":"${b64(k.data)}"}`;
  return Buffer.from(json);
}

export function decodeKeyFile(bytes: Uint8Array, name = ''): KeyFile {
  const where = name ? ` ${name.slice(0, 8)}` : '';
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new FormatError(`key file${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError(`key file${where} is not a JSON object`);
  const num = (v: unknown, f: string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new FormatError(`key file${where}: invalid ${f}`);
    return v;
  };
  const b64 = (v: unknown, f: string) => {
    if (typeof v !== 'string') throw new FormatError(`key file${where}: invalid ${f}`);
    return new Uint8Array(Buffer.from(v, 'base64'));
  };
  if (raw.kdf !== 'scrypt') throw new FormatError(`key file${where}: unsupported kdf ${JSON.stringify(raw.kdf)}`);
  return {
    created: typeof raw.created === 'string' ? raw.created : '',
    username: typeof raw.username === 'string' ? raw.username : '',
    hostname: typeof raw.hostname === 'string' ? raw.hostname : '',
    kdf: 'scrypt',
    N: num(raw.N, 'N'),
    r: num(raw.r, 'r'),
    p: num(raw.p, 'p'),
    salt: b64(raw.salt, 'salt'),
    data: b64(raw.data, 'data'),
  };
}

/** Create a new key file for `master` protected by `password`. */
export async function createKeyFile(
  password: string,
  master: MasterKey,
  params: KdfParams,
  who: { username?: string; hostname?: string } = {},
): Promise<{ id: string; bytes: Uint8Array; key: KeyFile }> {
  checkKdfParams(params);
  const salt = newSalt();
  const user = await deriveKey(password, salt, params);
  const key: KeyFile = {
    created: nowGoTime(),
    username: who.username ?? safeUsername(),
    hostname: who.hostname ?? os.hostname(),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt,
    data: encrypt(user, Buffer.from(encodeMasterKey(master))),
  };
  const bytes = encodeKeyFile(key);
  return { id: hashId(bytes), bytes, key };
}

/**
 * Derive the user key and decrypt the master key. Returns null when the password does
 * not fit this key (MAC mismatch), as restic then tries the next key.
 */
export async function openKeyFile(key: KeyFile, password: string, name = '', userKey?: Promise<MasterKey>): Promise<MasterKey | null> {
  checkKdfParams({ N: key.N, r: key.r, p: key.p });
  if (key.salt.length !== 64) throw new FormatError(`key file ${name.slice(0, 8)}: salt must be 64 bytes`);
  // `userKey`: already being derived from this file's salt and parameters (the caller checked)
  const user = await (userKey ?? deriveKey(password, key.salt, { N: key.N, r: key.r, p: key.p }));
  let plain: Uint8Array;
  try {
    plain = decrypt(user, key.data);
  } catch (err) {
    if (err instanceof IntegrityError) return null;
    throw err;
  }
  return decodeMasterKey(Buffer.from(plain).toString('utf8'));
}

export function safeUsername(): string {
  try {
    return os.userInfo().username;
  } catch {
    return '';
  }
}
