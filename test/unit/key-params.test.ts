/**
 * Remembered scrypt parameters (cache/key-params.ts): the user key is derived from process
 * start on, and used only for the key file whose salt and parameters it was derived from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend, Repository, WrongPasswordError } from '../../src/index.js';
import { TEST_KDF_PARAMS, deriveKey } from '../../src/crypto/kdf.js';
import { decodeKeyFile } from '../../src/format/key.js';
import { findKey } from '../../src/repository/key-search.js';
import { readKeyParams, sameKeyParams, writeKeyParams } from '../../src/cache/key-params.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir('key-params-');
});
afterEach(() => tmp.cleanup());

const salt = new Uint8Array(64).fill(7);
const LOCATION = 'rest:https://user:secret@backup.example:8000/repo/';

describe('key parameters kept per location', () => {
  it('round-trips; the file name does not show the location (it may hold a password)', () => {
    const kp = { keyId: 'a'.repeat(64), salt, params: { N: 32768, r: 8, p: 4 } };
    writeKeyParams(tmp.dir, LOCATION, kp);
    expect(readKeyParams(tmp.dir, LOCATION)).toEqual(kp);
    expect(readKeyParams(tmp.dir, 'rest:https://other/')).toBeUndefined();
    const [name] = fs.readdirSync(path.join(tmp.dir, 'key-params'));
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.readFileSync(path.join(tmp.dir, 'key-params', name!), 'utf8')).not.toContain('secret');
  });

  it('a damaged or tampered file is ignored: no absurd derivation is started', () => {
    writeKeyParams(tmp.dir, LOCATION, { keyId: 'a'.repeat(64), salt, params: { N: 32768, r: 8, p: 4 } });
    const [name] = fs.readdirSync(path.join(tmp.dir, 'key-params'));
    const file = path.join(tmp.dir, 'key-params', name!);
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const bad of [{ N: 2 ** 30 }, { N: 1000 }, { salt: 'AAAA' }, { keyId: '../x' }]) {
      fs.writeFileSync(file, JSON.stringify({ ...j, ...bad }));
      expect(readKeyParams(tmp.dir, LOCATION), JSON.stringify(bad)).toBeUndefined();
    }
    fs.writeFileSync(file, '{not json');
    expect(readKeyParams(tmp.dir, LOCATION)).toBeUndefined();
  });
});

describe('findKey with a user key derived ahead', () => {
  async function repoKey() {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, 'pw', { kdf: TEST_KDF_PARAMS });
    await repo.close();
    const keyId = (await findKey(backend, 'pw')).keyId;
    const file = decodeKeyFile(await backend.load({ type: 'key', name: keyId }), keyId);
    return { backend, keyId, file, params: { N: file.N, r: file.r, p: file.p } };
  }

  it('uses it for the key file it was derived for (a wrong one then fails to open it)', async () => {
    const { backend, keyId, file, params } = await repoKey();
    const wrong = deriveKey('not the password', file.salt, params);
    const err = await findKey(backend, 'pw', undefined, undefined, { kdf: { keyId, salt: file.salt, params }, userKey: wrong }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WrongPasswordError);
    const right = deriveKey('pw', file.salt, params);
    const opened = await findKey(backend, 'pw', undefined, undefined, { kdf: { keyId, salt: file.salt, params }, userKey: right });
    expect(opened.keyId).toBe(keyId);
    expect(opened.kdf && sameKeyParams(opened.kdf, file.salt, params)).toBe(true);
  });

  it('ignores it when the key file differs (other salt, parameters or key ID) and derives afresh', async () => {
    const { backend, keyId, file, params } = await repoKey();
    const wrong = deriveKey('not the password', file.salt, params);
    for (const kdf of [
      { keyId, salt: new Uint8Array(64), params },
      { keyId, salt: file.salt, params: { ...params, p: params.p + 1 } },
      { keyId: 'b'.repeat(64), salt: file.salt, params },
    ]) {
      const opened = await findKey(backend, 'pw', undefined, undefined, { kdf, userKey: wrong });
      expect(opened.keyId).toBe(keyId);
    }
  });
});
