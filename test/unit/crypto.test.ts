import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Extension,
  type MasterKey,
  ciphertextLength,
  clampR,
  decodeMasterKey,
  decrypt,
  encodeMasterKey,
  encrypt,
  encryptInto,
  equal16,
  keyIsValid,
  newRandomKey,
  plaintextLength,
  poly1305Aes,
} from '../../src/crypto/index.js';
import { FormatError, IntegrityError } from '../../src/errors.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// restic internal/crypto/crypto_int_test.go (vectors from Bernstein's Poly1305-AES paper).
const POLY1305_VECTORS = [
  {
    msg: 'f3f6',
    r: '851fc40c3467ac0be05cc20404f3f700',
    k: 'ec074c835580741701425b623235add6',
    nonce: 'fb447350c4e868c52ac3275cf9d4327e',
    mac: 'f4c633c3044fc145f84f335cb81953de',
  },
  {
    msg: '',
    r: 'a0f3080000f46400d0c7e9076c834403',
    k: '75deaa25c09f208e1dc4ce6b5cad3fbf',
    nonce: '61ee09218d29b0aaed7e154a2c5509cc',
    mac: 'dd3fab2251f11ac759f0887129cc2ee7',
  },
  {
    msg: '663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136',
    r: '48443d0bb0d21109c89a100b5ce2c208',
    k: '6acb5f61a7176dd320c5c1eb2edcdc74',
    nonce: 'ae212a55399729595dea458bc621ff0e',
    mac: '0ee1c16bb73f0f4fd19881753c01cdbe',
  },
  {
    msg:
      'ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0' + '990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9',
    r: '12976a08c4426d0ce8a82407c4f48207',
    k: 'e1a5668a4d5b66a5f68cc5424ed5982d',
    nonce: '9ae831e743978d3a23527c7128149e3a',
    mac: '5154ad0d2cb26e01274fc51148491f1b',
  },
];

// restic TestCrypto: a known item under a fixed key (its MAC r is stored unclamped).
const KNOWN_KEY: MasterKey = {
  encrypt: hex('303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef'),
  mac: { k: hex('ef4d8824cb80b2bcc5fbff8a9b12a42c'), r: hex('cc8d4b948ee0ebfe1d415de921d10353') },
};
const KNOWN_ITEM = hex('69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750');

function aesEcbBlock(key: Uint8Array, block: Uint8Array): Buffer {
  return crypto.createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(block);
}

describe('Poly1305-AES', () => {
  it.each(POLY1305_VECTORS.map((v, i) => [i + 1, v] as const))('vector %i', (_, v) => {
    expect(toHex(poly1305Aes(hex(v.msg), hex(v.nonce), hex(v.k), hex(v.r)))).toBe(v.mac);
  });

  it('clamps r itself', () => {
    const v = POLY1305_VECTORS[0]!;
    const r = hex(v.r);
    r[3]! |= 0xf0; // bits the clamp removes
    r[4]! |= 0x03;
    expect(toHex(poly1305Aes(hex(v.msg), hex(v.nonce), hex(v.k), r))).toBe(v.mac);
    expect(toHex(clampR(r))).toBe(v.r);
  });

  it('gives the same tag with a cached and a fresh AES key', () => {
    for (let round = 0; round < 2; round++) {
      for (const v of POLY1305_VECTORS) {
        expect(toHex(poly1305Aes(hex(v.msg), hex(v.nonce), hex(v.k), hex(v.r)))).toBe(v.mac);
      }
    }
  });

  it('rejects wrong lengths', () => {
    const v = POLY1305_VECTORS[0]!;
    expect(() => poly1305Aes(hex(v.msg), hex(v.nonce).subarray(1), hex(v.k), hex(v.r))).toThrow(RangeError);
    expect(() => poly1305Aes(hex(v.msg), hex(v.nonce), hex(v.k).subarray(1), hex(v.r))).toThrow(RangeError);
  });

  it('equal16 compares 16-byte tags', () => {
    const a = hex('00112233445566778899aabbccddeeff');
    expect(equal16(a, a.slice())).toBe(true);
    const b = a.slice();
    b[15]! ^= 1;
    expect(equal16(a, b)).toBe(false);
    expect(equal16(a, a.subarray(0, 15))).toBe(false);
  });
});

describe('known ciphertext (restic TestCrypto)', () => {
  it('decrypts to "Dies ist ein Test!"', () => {
    expect(Buffer.from(decrypt(KNOWN_KEY, KNOWN_ITEM)).toString()).toBe('Dies ist ein Test!');
  });

  it('rejects every single flipped byte of IV, ciphertext and MAC', () => {
    for (let i = 0; i < KNOWN_ITEM.length; i++) {
      const bad = KNOWN_ITEM.slice();
      bad[i]! ^= 0x01;
      expect(() => decrypt(KNOWN_KEY, bad), `byte ${i}`).toThrow(IntegrityError);
      bad[i]! ^= 0x81;
      expect(() => decrypt(KNOWN_KEY, bad), `byte ${i}`).toThrow(/ciphertext verification failed/);
    }
  });

  it('rejects a truncated or extended item', () => {
    expect(() => decrypt(KNOWN_KEY, KNOWN_ITEM.subarray(0, 49))).toThrow(IntegrityError);
    expect(() => decrypt(KNOWN_KEY, KNOWN_ITEM.subarray(1))).toThrow(IntegrityError);
    expect(() => decrypt(KNOWN_KEY, Buffer.concat([KNOWN_ITEM, Buffer.alloc(1)]))).toThrow(IntegrityError);
  });

  it('rejects the wrong key', () => {
    expect(() => decrypt(newRandomKey(), KNOWN_ITEM)).toThrow('ciphertext verification failed');
  });
});

describe('encrypt / decrypt', () => {
  const key = newRandomKey();

  it.each([0, 1, 15, 16, 17, 1024 * 1024 + 3])('round trip of %i bytes', (n) => {
    const plain = crypto.randomBytes(n);
    const item = encrypt(key, plain);
    expect(item.length).toBe(ciphertextLength(n));
    expect(plaintextLength(item.length)).toBe(n);
    expect(Buffer.from(decrypt(key, item)).equals(plain)).toBe(true);
    if (n >= 16) expect(Buffer.from(item.subarray(16, 16 + n)).equals(plain)).toBe(false);
  });

  it('uses a fresh IV each time', () => {
    const plain = Buffer.from('same plaintext');
    const a = encrypt(key, plain);
    const b = encrypt(key, plain);
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('never repeats an IV across many encryptions', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 1000; i++) ivs.add(toHex(encrypt(key, new Uint8Array(1)).subarray(0, 16)));
    expect(ivs.size).toBe(1000);
  });

  it('lays out IV || AES-256-CTR(plaintext) || Poly1305-AES(ciphertext)', () => {
    const plain = crypto.randomBytes(100);
    const item = encrypt(key, plain);
    const iv = item.subarray(0, 16);
    const ct = item.subarray(16, 116);
    const expectCt = crypto.createCipheriv('aes-256-ctr', key.encrypt, iv).update(plain);
    expect(ct.equals(expectCt)).toBe(true);
    expect(toHex(item.subarray(116))).toBe(toHex(poly1305Aes(ct, iv, key.mac.k, key.mac.r)));
  });

  it('encryptInto writes at an offset and leaves the rest alone', () => {
    const plain = crypto.randomBytes(1000);
    const out = Buffer.alloc(10 + plain.length + Extension + 5, 0xee);
    expect(encryptInto(key, plain, out, 10)).toBe(plain.length + Extension);
    expect(out.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(out.length - 5).every((b) => b === 0xee)).toBe(true);
    expect(Buffer.from(decrypt(key, out.subarray(10, out.length - 5))).equals(plain)).toBe(true);
    expect(() => encryptInto(key, plain, out, 16)).toThrow(RangeError);
  });

  it('decrypts items that are subarrays of a larger buffer', () => {
    const a = encrypt(key, Buffer.from('first'));
    const b = encrypt(key, Buffer.from('second blob'));
    const pack = Buffer.concat([a, b]);
    expect(Buffer.from(decrypt(key, pack.subarray(a.length))).toString()).toBe('second blob');
  });

  it('rejects input shorter than 32 bytes', () => {
    for (const n of [0, 1, 16, 31]) expect(() => decrypt(key, new Uint8Array(n))).toThrow(IntegrityError);
    expect(() => decrypt(key, new Uint8Array(31))).toThrow(/too short/);
  });

  it('rejects an all-zero IV even with a valid MAC', () => {
    const iv = new Uint8Array(16);
    const ct = crypto.createCipheriv('aes-256-ctr', key.encrypt, iv).update(Buffer.from('hello'));
    const item = Buffer.concat([iv, ct, poly1305Aes(ct, iv, key.mac.k, key.mac.r)]);
    expect(() => decrypt(key, item)).toThrow(IntegrityError);
    expect(() => decrypt(key, item)).toThrow(/IV/);
  });

  it('rejects invalid keys', () => {
    const item = encrypt(key, Buffer.from('x'));
    const zero = (n: number) => new Uint8Array(n);
    const bad: MasterKey[] = [
      { encrypt: zero(32), mac: key.mac },
      { encrypt: key.encrypt, mac: { k: zero(16), r: key.mac.r } },
      { encrypt: key.encrypt, mac: { k: key.mac.k, r: zero(16) } },
      { encrypt: key.encrypt.subarray(0, 16), mac: key.mac },
    ];
    for (const k of bad) {
      expect(keyIsValid(k)).toBe(false);
      expect(() => decrypt(k, item)).toThrow(IntegrityError);
      expect(() => encrypt(k, Buffer.from('x'))).toThrow(/invalid key/);
    }
    expect(keyIsValid(key)).toBe(true);
  });

  it('new random keys are valid with a clamped r', () => {
    const k = newRandomKey();
    expect(keyIsValid(k)).toBe(true);
    expect(toHex(clampR(k.mac.r))).toBe(toHex(k.mac.r));
    expect(k.encrypt.length).toBe(32);
    expect(k.mac.k.length).toBe(16);
  });

  it('constants', () => {
    expect(Extension).toBe(32);
    expect(ciphertextLength(0)).toBe(32);
    expect(plaintextLength(32)).toBe(0);
  });
});

describe('AES-256-CTR counter', () => {
  // Go's cipher.NewCTR increments the whole 16-byte block as a big-endian integer.
  const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  const keystream = (iv: Uint8Array, n: number) => crypto.createCipheriv('aes-256-ctr', key, iv).update(new Uint8Array(n));
  const manual = (blocks: string[]) => Buffer.concat(blocks.map((b) => aesEcbBlock(key, hex(b))));

  it('carries across all 16 bytes (ff…ff wraps to 00…00)', () => {
    const ks = keystream(hex('ffffffffffffffffffffffffffffffff'), 48);
    expect(toHex(ks)).toBe(
      toHex(manual(['ffffffffffffffffffffffffffffffff', '00000000000000000000000000000000', '00000000000000000000000000000001'])),
    );
  });

  it('carries from the low 64 bits into the high 64 bits', () => {
    const ks = keystream(hex('0102030405060708ffffffffffffffff'), 32);
    expect(toHex(ks)).toBe(toHex(manual(['0102030405060708ffffffffffffffff', '01020304050607090000000000000000'])));
  });

  it('carries from the low 32 bits', () => {
    const ks = keystream(hex('000000000000000000000000fffffffe'), 48);
    expect(toHex(ks)).toBe(
      toHex(manual(['000000000000000000000000fffffffe', '000000000000000000000000ffffffff', '00000000000000000000000100000000'])),
    );
  });
});

describe('master key JSON', () => {
  const fixed: MasterKey = {
    encrypt: new Uint8Array(Buffer.from('Yp7wpJKSJ/pnIk4pQiO+mPLsZ07I6QbrJTItJ6zZj7k=', 'base64')),
    mac: {
      k: new Uint8Array(Buffer.from('/AfdMzbMsJwTTu21eVtYFA==', 'base64')),
      r: new Uint8Array(Buffer.from('b7heD3T+ygfEXqcILJqzAg==', 'base64')),
    },
  };
  const fixedJson =
    '{"mac":{"k":"/AfdMzbMsJwTTu21eVtYFA==","r":"b7heD3T+ygfEXqcILJqzAg=="},"encrypt":"Yp7wpJKSJ/pnIk4pQiO+mPLsZ07I6QbrJTItJ6zZj7k="}';

  it('encodes exactly as restic (compact, mac first, std base64)', () => {
    expect(encodeMasterKey(fixed)).toBe(fixedJson);
    expect(encodeMasterKey(fixed).length).toBe(128);
  });

  it('round trips', () => {
    const k = newRandomKey();
    const back = decodeMasterKey(encodeMasterKey(k));
    expect(toHex(back.encrypt)).toBe(toHex(k.encrypt));
    expect(toHex(back.mac.k)).toBe(toHex(k.mac.k));
    expect(toHex(back.mac.r)).toBe(toHex(k.mac.r));
    expect(decodeMasterKey(fixedJson)).toEqual(fixed);
  });

  it('accepts the indented form and an unclamped r (restic ≥0.17)', () => {
    const pretty = JSON.stringify(JSON.parse(fixedJson), null, '  ');
    expect(decodeMasterKey(pretty)).toEqual(fixed);
    const unclamped = fixedJson.replace('b7heD3T+ygfEXqcILJqzAg==', '/////////////////////w==');
    expect(toHex(decodeMasterKey(unclamped).mac.r)).toBe('ff'.repeat(16));
  });

  it('rejects wrong lengths, bad base64, missing fields and zero keys', () => {
    const bad = [
      'not json',
      'null',
      '{}',
      fixedJson.replace('"mac":{', '"mac":null,"x":{'),
      fixedJson.replace('/AfdMzbMsJwTTu21eVtYFA==', '/AfdMzbMsJwTTu21eVtY'),
      fixedJson.replace('/AfdMzbMsJwTTu21eVtYFA==', '/AfdMzbMsJwTTu21eVtYFA'),
      fixedJson.replace('/AfdMzbMsJwTTu21eVtYFA==', '_AfdMzbMsJwTTu21eVtYFA=='),
      fixedJson.replace('Yp7wpJKSJ/pnIk4pQiO+mPLsZ07I6QbrJTItJ6zZj7k=', 'AAAA'),
      fixedJson.replace('Yp7wpJKSJ/pnIk4pQiO+mPLsZ07I6QbrJTItJ6zZj7k=', Buffer.alloc(32).toString('base64')),
      fixedJson.replace('"b7heD3T+ygfEXqcILJqzAg=="', '42'),
    ];
    for (const s of bad) expect(() => decodeMasterKey(s), s).toThrow(FormatError);
  });
});
