import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  MAX_KDF_WORK,
  SALT_SIZE,
  TEST_KDF_PARAMS,
  calibrateKdf,
  checkKdfParams,
  decodeMasterKey,
  decrypt,
  deriveKey,
  encodeMasterKey,
  encrypt,
  keyIsValid,
  newRandomKey,
  newSalt,
  scryptKdf,
} from '../../src/crypto/index.js';
import { IntegrityError, KeyParamsError } from '../../src/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const KEY_FILE = path.join(here, '../fixtures/keys/repo-layout-default.json');
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// restic cmd/restic/testdata/repo-layout-default.tar.gz, keys/584fd518…, password "geheim".
const KEY_ID = '584fd5182a9dc4dee93819078aed63db174dfe7c46ce2ea30d77dcda8c470cc4';
const SCRYPT_OUT =
  'c0a734904ea1ec3674d7043d5b2f882ceec9be76649d936e68845f42c4c1f96d' + 'f4aad440baaa2a0b44f5def630442f083ab461b1134ff885d8d382ebf77e0de9';
const MASTER_JSON =
  '{"mac":{"k":"/AfdMzbMsJwTTu21eVtYFA==","r":"b7heD3T+ygfEXqcILJqzAg=="},"encrypt":"Yp7wpJKSJ/pnIk4pQiO+mPLsZ07I6QbrJTItJ6zZj7k="}';

describe('key file vector (repo-layout-default)', () => {
  const bytes = fs.readFileSync(KEY_FILE);
  const file = JSON.parse(bytes.toString()) as { N: number; r: number; p: number; salt: string; data: string };
  const salt = new Uint8Array(Buffer.from(file.salt, 'base64'));
  const params = { N: file.N, r: file.r, p: file.p };

  it('is the unmodified key file', () => {
    expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(KEY_ID);
    expect(params).toEqual({ N: 128, r: 1, p: 1 });
    expect(salt.length).toBe(SALT_SIZE);
  });

  it('scrypt("geheim") gives the known output', async () => {
    expect(toHex(await scryptKdf('geheim', salt, params))).toBe(SCRYPT_OUT);
    expect(toHex(await scryptKdf(Buffer.from('geheim'), salt, params))).toBe(SCRYPT_OUT);
  });

  it('splits the output into encrypt, mac.k and clamped mac.r', async () => {
    const user = await deriveKey('geheim', salt, params);
    expect(toHex(user.encrypt)).toBe(SCRYPT_OUT.slice(0, 64));
    expect(toHex(user.mac.k)).toBe(SCRYPT_OUT.slice(64, 96));
    const r = Buffer.from(SCRYPT_OUT.slice(96), 'hex');
    const mask = Buffer.from('ffffff0ffcffff0ffcffff0ffcffff0f', 'hex');
    expect(toHex(user.mac.r)).toBe(toHex(r.map((b, i) => b & mask[i]!)));
  });

  it('decrypts data to the master key JSON', async () => {
    const user = await deriveKey('geheim', salt, params);
    const data = new Uint8Array(Buffer.from(file.data, 'base64'));
    expect(data.length).toBe(160);
    const plain = Buffer.from(decrypt(user, data)).toString();
    expect(plain).toBe(MASTER_JSON);
    const master = decodeMasterKey(plain);
    expect(keyIsValid(master)).toBe(true);
    expect(encodeMasterKey(master)).toBe(MASTER_JSON);
  });

  it('a wrong password fails the MAC check', async () => {
    const user = await deriveKey('Geheim', salt, params);
    expect(() => decrypt(user, new Uint8Array(Buffer.from(file.data, 'base64')))).toThrow(IntegrityError);
  });
});

describe('deriveKey', () => {
  it('round trips a master key through a new user key', async () => {
    const salt = newSalt();
    expect(salt.length).toBe(64);
    const master = newRandomKey();
    const data = encrypt(await deriveKey('pw', salt, TEST_KDF_PARAMS), Buffer.from(encodeMasterKey(master)));
    const back = decodeMasterKey(Buffer.from(decrypt(await deriveKey('pw', salt, TEST_KDF_PARAMS), data)).toString());
    expect(back).toEqual({
      encrypt: new Uint8Array(master.encrypt),
      mac: { k: new Uint8Array(master.mac.k), r: new Uint8Array(master.mac.r) },
    });
  });

  it('rejects a salt that is not 64 bytes', async () => {
    await expect(deriveKey('pw', new Uint8Array(32), TEST_KDF_PARAMS)).rejects.toThrow(KeyParamsError);
  });

  it('handles restic calibrated parameters (N=32768, r=8) despite node default maxmem', async () => {
    const user = await deriveKey('pw', newSalt(), { N: 32768, r: 8, p: 1 });
    expect(keyIsValid(user)).toBe(true);
  });
});

describe('checkKdfParams', () => {
  it('accepts what restic writes', () => {
    for (const p of [
      { N: 128, r: 1, p: 1 },
      { N: 32768, r: 8, p: 1 },
      { N: 32768, r: 8, p: 16 },
      { N: 65536, r: 8, p: 1 },
      { N: 16384, r: 8, p: 1 },
      { N: 2, r: 1, p: 1 },
      TEST_KDF_PARAMS,
    ]) {
      expect(() => checkKdfParams(p), JSON.stringify(p)).not.toThrow();
    }
  });

  const absurd: [string, { N: number; r: number; p: number }, RegExp][] = [
    ['N=2^30', { N: 2 ** 30, r: 1, p: 1 }, /parameter N\b/],
    ['N=2^31', { N: 2 ** 31, r: 8, p: 1 }, /parameter N\b/],
    ['N=2^32', { N: 2 ** 32, r: 8, p: 1 }, /parameter N\b/],
    ['r=1000', { N: 32768, r: 1000, p: 1 }, /parameter r\b/],
    ['p=2^20', { N: 32768, r: 8, p: 2 ** 20 }, /parameter p\b/],
    ['p=2^20, tiny N', { N: 2, r: 1, p: 2 ** 20 * 64 }, /parameter p\b/],
    ['N=3', { N: 3, r: 8, p: 1 }, /parameter N\b/],
    ['N=0', { N: 0, r: 8, p: 1 }, /parameter N\b/],
    ['N=1', { N: 1, r: 8, p: 1 }, /parameter N\b/],
    ['N=-2', { N: -2, r: 8, p: 1 }, /parameter N\b/],
    ['N=1.5', { N: 1.5, r: 8, p: 1 }, /parameter N\b/],
    ['N=NaN', { N: NaN, r: 8, p: 1 }, /parameter N\b/],
    ['r=0', { N: 1024, r: 0, p: 1 }, /parameter r\b/],
    ['p=0', { N: 1024, r: 8, p: 0 }, /parameter p\b/],
    ['r·p ≥ 2^30', { N: 2, r: 2 ** 15, p: 2 ** 15 }, /parameters r=\d+, p=\d+/],
    ['too much work', { N: 32768, r: 8, p: 2 ** 10 }, /parameter p\b/],
  ];

  it.each(absurd)('%s → KeyParamsError naming the parameter', (_, params, name) => {
    expect(() => checkKdfParams(params)).toThrow(KeyParamsError);
    expect(() => checkKdfParams(params)).toThrow(name);
  });

  it('deriveKey refuses absurd parameters at once, without running scrypt', async () => {
    const salt = newSalt();
    const t0 = performance.now();
    for (const [, params] of absurd) await expect(deriveKey('pw', salt, params)).rejects.toThrow(KeyParamsError);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('the work bound leaves headroom over restic calibrated keys', () => {
    expect(MAX_KDF_WORK).toBeGreaterThanOrEqual(32768 * 8 * 16);
  });
});

describe('calibrateKdf', () => {
  it('keeps r=8 and N=32768 under 60 MiB and scales p', async () => {
    const p = await calibrateKdf({ targetMs: 50 });
    expect(p.r).toBe(8);
    expect(p.N).toBeLessThanOrEqual(32768);
    expect(p.N).toBeGreaterThanOrEqual(1024);
    expect(p.p).toBeGreaterThanOrEqual(1);
    expect(() => checkKdfParams(p)).not.toThrow();
  });

  it('derives N from the memory cap', async () => {
    const p = await calibrateKdf({ targetMs: 1000, memory: 4 * 1024 * 1024 });
    expect(p.N).toBe(2048); // 128·8·2048 = 2 MiB < 4 MiB ≤ 128·8·4096
    expect(() => checkKdfParams(p)).not.toThrow();
  });
});
