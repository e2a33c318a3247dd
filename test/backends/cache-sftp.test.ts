/**
 * The local cache over SFTP (OpenSSH sshd on 127.0.0.1): a cached tree pack with a flipped
 * byte is re-fetched and reported, index files removed from the cache between runs are fetched
 * again, the backup succeeds and restic 0.14 checks the repository clean.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { generateTree } from '../helpers/gentree.js';
import { resticOk } from '../helpers/restic.js';
import { haveSshd, startSshd, type Sshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'sftp cache';
let tmp: { dir: string; cleanup: () => void };
let sshd: Sshd;

beforeAll(async () => {
  if (!haveSshd()) throw new Error('OpenSSH sshd (/usr/sbin/sshd, ssh-keygen) is required: apt-get install openssh-server');
  tmp = tempDir('restic-ts-cache-sftp-');
  sshd = await startSshd();
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
  tmp?.cleanup();
});

describe('cache over SFTP', () => {
  it('damaged and deleted cached files are re-fetched and reported; restic check --read-data is clean', () => {
    const src = path.join(tmp.dir, 'src');
    generateTree(src, { bigFileSize: 256 * 1024 });
    const dir = path.join(sshd.home, 'cached');
    const cacheBase = path.join(tmp.dir, 'cache');
    const env = { RESTIC_PASSWORD: PASSWORD, HOME: path.join(tmp.dir, 'home') };
    const ours = (args: string[]) =>
      cli(
        ['-r', `sftp://root@127.0.0.1:${sshd.port}/${dir}`, '--ssh-key-file', sshd.clientKey, '-o', `sftp.known-hosts=${sshd.knownHosts}`]
          .concat(['--cache-dir', cacheBase])
          .concat(args),
        env,
      );
    expect(ours(['init']).code).toBe(0);
    const first = ours(['backup', '--host', 'h', src]);
    expect(first.code, first.stderr).toBe(0);
    const [repoId] = fs.readdirSync(cacheBase).filter((n) => /^[0-9a-f]{64}$/.test(n));
    const files = (sub: string) =>
      fs
        .readdirSync(path.join(cacheBase, repoId!, sub), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name));
    for (const p of files('data')) {
      const b = fs.readFileSync(p);
      b[20]! ^= 0x01;
      fs.writeFileSync(p, b);
    }
    for (const p of files('index')) fs.rmSync(p);

    const again = ours(['backup', '--host', 'h', src]);
    expect(again.code, again.stderr).toBe(0);
    const lines = again.stderr.trimEnd().split('\n');
    expect(
      lines.some((l) => /^cache: pack file [0-9a-f]{64} failed verification in the cache \(.+\), re-fetched from the repository$/.test(l)),
    ).toBe(true);
    // removed between runs: simply not cached (fetched again, nothing to report)
    expect(lines.filter((l) => / vanished /.test(l))).toEqual([]);
    expect(files('index').length).toBeGreaterThan(0);
    resticOk(`sftp:root@127.0.0.1:${dir}`, PASSWORD, ['-o', `sftp.command=${sshd.sftpCommand()}`, 'check', '--read-data']);
  });
});
