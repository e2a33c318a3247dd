/**
 * `key list|add|remove|passwd` against the real restic 0.14: keys added by either tool open
 * the repository in the other, listings agree, passwd retires the old password (exit 12),
 * and the key in use is never removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { requireRestic, restic, resticOk } from '../helpers/restic.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof tempDir>;
let repo: string;
const pwFile = (name: string, pw: string) => {
  const f = path.join(tmp.dir, name);
  fs.writeFileSync(f, pw + '\n');
  return f;
};
const as = (pw: string) => ({ RESTIC_PASSWORD: pw });

interface KeyRow {
  current: boolean;
  id: string;
  userName: string;
  hostName: string;
  created: string;
}
const byId = (a: KeyRow, b: KeyRow) => a.id.localeCompare(b.id);
const ourKeys = (pw: string): KeyRow[] => {
  const r = cli(['-r', repo, '--json', 'key', 'list'], as(pw));
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as KeyRow[]).sort(byId);
};
const theirKeys = (pw: string): KeyRow[] => (JSON.parse(resticOk(repo, pw, ['key', 'list', '--json'])) as KeyRow[]).sort(byId);

beforeAll(() => {
  tmp = tempDir('restic-ts-keys-');
  repo = path.join(tmp.dir, 'repo');
  expect(cli(['-r', repo, 'init'], as('alpha')).code).toBe(0);
  fs.writeFileSync(path.join(tmp.dir, 'file'), 'key test data\n');
  expect(cli(['-r', repo, 'backup', path.join(tmp.dir, 'file')], as('alpha')).code).toBe(0);
});
afterAll(() => tmp.cleanup());

beforeAll(requireRestic);

describe('keys interoperate with restic 0.14', () => {
  let alphaId = '';
  let bravoId = '';
  let charlieId = '';

  it('a key added by restic-ts (with --user/--host) opens the repository in restic; both list the same', () => {
    alphaId = ourKeys('alpha')[0]!.id;
    const add = cli(
      ['-r', repo, 'key', 'add', '--new-password-file', pwFile('b', 'bravo'), '--user', 'alice', '--host', 'box'],
      as('alpha'),
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^saved new key as <Key of alice@box, created on .+>\n$/);
    const theirs = theirKeys('bravo');
    expect(theirs.length).toBe(2);
    const bravo = theirs.find((k) => k.current)!;
    expect(bravo).toMatchObject({ userName: 'alice', hostName: 'box' });
    bravoId = bravo.id;
    expect(ourKeys('bravo')).toEqual(theirs);
    // the table, too (rows may come in another order)
    const sortRows = (t: string) => t.split('\n').sort();
    expect(sortRows(cli(['-r', repo, 'key', 'list'], as('bravo')).stdout)).toEqual(sortRows(resticOk(repo, 'bravo', ['key', 'list'])));
  });

  it('a key added by restic (calibrated scrypt) opens the repository in restic-ts', () => {
    resticOk(repo, 'alpha', ['key', 'add', '--new-password-file', pwFile('c', 'charlie')]);
    const ours = ourKeys('charlie');
    expect(ours.length).toBe(3);
    charlieId = ours.find((k) => k.current)!.id;
    expect([alphaId, bravoId]).not.toContain(charlieId);
    expect(cli(['-r', repo, 'snapshots', '--json'], as('charlie')).code).toBe(0);
  }, 60_000);

  it('passwd replaces the current key: the old password fails with exit 12 in restic-ts and fails in restic', () => {
    const r = cli(['-r', repo, 'key', 'passwd', '--new-password-file', pwFile('d', 'delta')], as('alpha'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^saved new key as <Key of /);
    const old = cli(['-r', repo, 'snapshots'], as('alpha'));
    expect(old.code).toBe(12);
    expect(old.stderr.trim().split('\n')).toEqual(['Fatal: wrong password or no key found']);
    const theirsOld = restic(repo, 'alpha', ['snapshots']);
    expect(theirsOld.code).not.toBe(0);
    expect(theirsOld.stderr).toContain('wrong password');
    const keys = theirKeys('delta');
    expect(keys.length).toBe(3);
    expect(keys.map((k) => k.id)).not.toContain(alphaId);
  }, 60_000);

  it('never removes the key in use; removes another one', () => {
    const current = ourKeys('delta').find((k) => k.current)!.id;
    const refuse = cli(['-r', repo, 'key', 'remove', current], as('delta'));
    expect(refuse.code).toBe(1);
    expect(refuse.stderr).toBe('Fatal: refusing to remove key currently used to access repository\n');
    expect(ourKeys('delta').map((k) => k.id)).toContain(current);
    const rm = cli(['-r', repo, 'key', 'remove', charlieId], as('delta'));
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(new RegExp(`^removed key ${charlieId}[0-9a-f]{56}\\n$`));
    expect(cli(['-r', repo, 'snapshots'], as('charlie')).code).toBe(12);
    expect(restic(repo, 'charlie', ['snapshots']).code).not.toBe(0);
    expect(theirKeys('bravo').length).toBe(2);
    expect(restic(repo, 'delta', ['check']).code).toBe(0);
  }, 60_000);

  it('rejects bad arguments with one line', () => {
    for (const args of [['key'], ['key', 'remove'], ['key', 'list', 'x'], ['key', 'frobnicate']]) {
      const r = cli(['-r', repo, ...args], as('delta'));
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').length).toBe(1);
    }
    const missing = cli(['-r', repo, 'key', 'add', '--new-password-file', path.join(tmp.dir, 'nope')], as('delta'));
    expect(missing).toMatchObject({ code: 1, stderr: `Fatal: ${path.join(tmp.dir, 'nope')} does not exist\n` });
  });
});
