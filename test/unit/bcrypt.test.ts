import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from 'bcryptjs';
import { bcryptHash, bcryptVerify, checkHash, parseHtpasswd } from '../../src/rest-server/htpasswd.js';

describe('bcrypt', () => {
  // OpenBSD/Openwall test vectors, and hashes made with glibc's libxcrypt crypt(3)
  // (Python's crypt.crypt on Debian) for $2b$, $2y$, non-ASCII and long passwords.
  const vectors: Array<[string, string]> = [
    ['U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
    ['secret', '$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW'],
    ['pässwörd', '$2y$05$0123456789ABCDEFGHIJK.73zow/9KcA32q/PrB29TmF0mb7AHcGC'],
    ['x'.repeat(71), '$2a$04$CCCCCCCCCCCCCCCCCCCCC.mwrsLq6gtszNEQrpvY85c8XKy5rgdwW'],
    ['x'.repeat(72), '$2a$04$CCCCCCCCCCCCCCCCCCCCC.ug0A3dTXhy5U.dFjx/qguZ8I4CB77BC'],
    ['x'.repeat(80), '$2a$04$CCCCCCCCCCCCCCCCCCCCC.ug0A3dTXhy5U.dFjx/qguZ8I4CB77BC'], // only 72 bytes count
    ['', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.Cg0ly9t/KVBCBYYDfOmZKwry9JuXClC'],
  ];

  it.each(vectors)('verifies %j', async (pw, hash) => {
    expect(await bcryptVerify(pw, hash)).toBe(true);
    const other = '!' + pw.slice(1); // first byte changed (bytes after 72 would not count)
    expect(await bcryptVerify(other, hash)).toBe(false);
  });

  it('rejects malformed hashes and unsupported variants', async () => {
    const good = vectors[0]![1];
    expect(await bcryptVerify('U*U', good.slice(0, -1))).toBe(false);
    expect(await bcryptVerify('U*U', good.replace('$2a$', '$2x$'))).toBe(false);
    expect(await bcryptVerify('U*U', good.replace('$05$', '$03$'))).toBe(false);
    expect(await bcryptVerify('U*U', good.replace('$05$', '$31$'))).toBe(false); // cost beyond MAX_COST
  });

  it('hashes and verifies round trip; base64 round trip', async () => {
    const salt = randomBytes(16);
    expect(new Uint8Array(decodeBase64(encodeBase64(salt, 16), 16))).toEqual(new Uint8Array(salt));
    const h = await bcryptHash('correct horse', salt, 4);
    expect(h).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(await bcryptVerify('correct horse', h)).toBe(true);
    expect(await bcryptVerify('correct horsf', h)).toBe(false);
  });
});

describe('htpasswd', () => {
  it('parses users like rest-server and checks {SHA} and bcrypt entries', async () => {
    const warnings: string[] = [];
    const users = parseHtpasswd(
      [
        '# comment',
        '  alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', // "password"
        'bob:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW',
        'bad user:{SHA}x',
        'carol:$apr1$abc$def',
        '',
      ].join('\n'),
      (w) => warnings.push(w),
    );
    expect([...users.keys()]).toEqual(['alice', 'bob', 'carol']);
    expect(warnings.join()).toContain('bad user');
    expect(await checkHash(users.get('alice')!, 'password')).toBe(true);
    expect(await checkHash(users.get('alice')!, 'Password')).toBe(false);
    expect(await checkHash(users.get('bob')!, 'U*U')).toBe(true);
    expect(await checkHash(users.get('carol')!, 'anything')).toBe(false); // MD5-crypt is not supported
  });
});
