/**
 * SFTP backend against a real OpenSSH sshd started for this file (127.0.0.1, own config,
 * key-only auth): backend conformance (through the location as the CLI opens it, and bare),
 * host key checking, refused keys, and reconnecting after the link drops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { openLocation } from '../../src/backends/location.js';
import { AuthenticationError, RetryBackend } from '../../src/backends/retry.js';
import { keyBlobType, knownHostsName, parseKnownHosts, verifyHostKey } from '../../src/backends/sftp/known-hosts.js';
import { HostKeyError, SftpBackend, parseSftpLocation } from '../../src/backends/sftp/sftp.js';
import { NotFoundError, UsageError } from '../../src/errors.js';
import { collect, expectBytes, randomFile, runBackendSuite } from '../helpers/backend-suite.js';
import { haveSshd, startSshd, type Sshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

let sshd: Sshd;
let tmp: ReturnType<typeof tempDir>;
/** A HOME without ~/.ssh, so nothing from the real user's keys or known_hosts leaks in. */
let emptyHome: string;
let seq = 0;

beforeAll(async () => {
  if (!haveSshd())
    throw new Error(
      'OpenSSH sshd (/usr/sbin/sshd, ssh-keygen) is required for the SFTP tests and must run as root: apt-get install openssh-server',
    );
  tmp = tempDir('restic-ts-sftp-');
  emptyHome = path.join(tmp.dir, 'home');
  fs.mkdirSync(emptyHome);
  sshd = await startSshd();
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
  tmp?.cleanup();
});

/** A fresh absolute repository directory on the server (the server's files are local here). */
function repoDir(tag: string): string {
  return path.join(sshd.home, `${tag}-${++seq}`);
}

function locationBackend(dir: string, ext: Record<string, string> = {}, key = sshd.clientKey): Backend {
  return openLocation(`sftp://root@127.0.0.1:${sshd.port}/${dir}`, {
    env: { HOME: emptyHome },
    sshKeyFile: key,
    extended: { 'sftp.known-hosts': sshd.knownHosts, ...ext },
  });
}

function bare(dir: string, extra: Partial<ConstructorParameters<typeof SftpBackend>[0]> = {}): SftpBackend {
  return new SftpBackend({
    host: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    path: dir,
    privateKeys: [{ key: fs.readFileSync(sshd.clientKey), source: sshd.clientKey }],
    knownHostsFile: sshd.knownHosts,
    ...extra,
  });
}

const cleanup = (be: Backend) => {
  const dir = (be as { root?: string; inner?: { root?: string } }).root ?? (be as { inner?: { root: string } }).inner?.root;
  if (dir) fs.rmSync(path.isAbsolute(dir) ? dir : path.join(sshd.home, dir), { recursive: true, force: true });
};

runBackendSuite('sftp location on OpenSSH', () => locationBackend(repoDir('suite')), { cleanup });
describe('sftp locations', () => {
  it('parses restic 0.14 syntax', () => {
    expect(parseSftpLocation('sftp:user@host:/srv/repo')).toEqual({ user: 'user', host: 'host', port: undefined, path: '/srv/repo' });
    expect(parseSftpLocation('sftp:user@host:backups/repo/')).toEqual({
      user: 'user',
      host: 'host',
      port: undefined,
      path: 'backups/repo',
    });
    expect(parseSftpLocation('sftp:host:x')).toEqual({ user: undefined, host: 'host', port: undefined, path: 'x' });
    expect(parseSftpLocation('sftp:a@b@host:/x')).toEqual({ user: 'a@b', host: 'host', port: undefined, path: '/x' });
    expect(parseSftpLocation('sftp://user@host:2222//srv/repo')).toEqual({ user: 'user', host: 'host', port: 2222, path: '/srv/repo' });
    expect(parseSftpLocation('sftp://user@host/rel/./repo')).toEqual({ user: 'user', host: 'host', port: undefined, path: 'rel/repo' });
    expect(parseSftpLocation('sftp://host:22//a/../b')).toEqual({ user: undefined, host: 'host', port: 22, path: '/b' });
    for (const bad of ['sftp:hostonly', 'sftp://host', 'sftp://host/', 'sftp:user@host:~/repo', 'sftp:user@:/x']) {
      expect(() => parseSftpLocation(bad), bad).toThrow(UsageError);
    }
  });

  it('refuses -o sftp.command with a clear message (we speak SSH ourselves)', () => {
    expect(() => locationBackend('/x', { 'sftp.command': 'ssh host -s sftp' })).toThrow(/sftp\.command is not supported/);
  });

  it('refuses unknown sftp.* options, as restic does', () => {
    expect(() => locationBackend('/x', { 'sftp.knownhosts': 'f' })).toThrow(
      /option sftp\.knownhosts is not known \(SFTP options: sftp\.known-hosts/,
    );
  });

  it('without any key: a one-line usage error naming the ways to give one', () => {
    expect(() => openLocation(`sftp:root@127.0.0.1:/x`, { env: { HOME: emptyHome } })).toThrow(/--ssh-key-file.*SSH_KEY_FILE.*SSH_KEY/);
  });

  it('takes the key from SSH_KEY_FILE, SSH_KEY and ~/.ssh/id_ed25519', async () => {
    const home = path.join(tmp.dir, 'keyhome');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.copyFileSync(sshd.clientKey, path.join(home, '.ssh', 'id_ed25519'));
    fs.copyFileSync(sshd.knownHosts, path.join(home, '.ssh', 'known_hosts'));
    const envs: Record<string, string>[] = [
      { HOME: emptyHome, SSH_KEY_FILE: sshd.clientKeyRsa },
      { HOME: emptyHome, SSH_KEY: fs.readFileSync(sshd.clientKey, 'utf8') },
      { HOME: emptyHome, SSH_KEY: fs.readFileSync(sshd.clientKey, 'utf8').replace(/\n/g, '\\n') },
      { HOME: home }, // default key and default known_hosts
    ];
    for (const env of envs) {
      const dir = repoDir('keys');
      const ext: Record<string, string> = env.HOME === home ? {} : { 'sftp.known-hosts': sshd.knownHosts };
      // The URL form: sftp:user@host:path has no port for our random one.
      const be2 = openLocation(`sftp://root@127.0.0.1:${sshd.port}/${dir}`, { env, extended: ext });
      await be2.create();
      const f = randomFile(100);
      await be2.save({ type: 'key', name: f.name }, f.data);
      expectBytes(await be2.load({ type: 'key', name: f.name }), f.data);
      await be2.close();
    }
  });
});

describe('known_hosts matching', () => {
  const blob = (type: string, fill: number) => {
    const t = Buffer.from(type);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(t.length);
    return Buffer.concat([len, t, Buffer.alloc(32, fill)]);
  };
  const k1 = blob('ssh-ed25519', 1);
  const k2 = blob('ssh-ed25519', 2);
  const r1 = blob('ssh-rsa', 3);
  const line = (hosts: string, b: Buffer, marker = '') => `${marker}${hosts} ${keyBlobType(b)} ${b.toString('base64')}`;

  it('ok, unknown, changed, revoked; other key types alone are "unknown"', () => {
    const text = [
      '# comment',
      line('host.example,[host.example]:2222', k1),
      line('[other]:2222', k2),
      line('rsaonly', r1),
      line('*.bad', k2, '@revoked '),
      line('@cert-authority *', k1),
      'garbage line',
    ].join('\n');
    expect(verifyHostKey(parseKnownHosts(text, '[host.example]:2222'), k1)).toEqual({ status: 'ok', line: 2 });
    expect(verifyHostKey(parseKnownHosts(text, 'host.example'), k2)).toEqual({ status: 'changed', line: 2 });
    expect(verifyHostKey(parseKnownHosts(text, 'nowhere'), k1)).toEqual({ status: 'unknown', knownTypes: [] });
    expect(verifyHostKey(parseKnownHosts(text, 'rsaonly'), k1)).toEqual({ status: 'unknown', knownTypes: ['ssh-rsa'] });
    expect(verifyHostKey(parseKnownHosts(text, 'x.bad'), k2)).toEqual({ status: 'revoked', line: 5 });
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
  });
});

describe('host keys and authentication', () => {
  it('refuses an unknown host key with one line naming the file and the opt-out', async () => {
    const empty = path.join(tmp.dir, 'known_hosts_empty');
    fs.writeFileSync(empty, '# nothing here\n');
    const be = locationBackend(repoDir('unknown'), { 'sftp.known-hosts': empty });
    const err = (await be.stat({ type: 'config', name: '' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`[127.0.0.1]:${sshd.port} is not in ${empty}`);
    expect(err.message).toContain('sftp.insecure-host-key=true');
    expect(err.message).toContain(sshd.hostPublicKey.split(' ')[0]!);
    await be.close();
    // A missing known_hosts file is the same: unknown.
    const be2 = locationBackend(repoDir('unknown'), { 'sftp.known-hosts': path.join(tmp.dir, 'no-such-file') });
    await expect(be2.stat({ type: 'config', name: '' })).rejects.toBeInstanceOf(HostKeyError);
    await be2.close();
  });

  it('refuses a changed host key', async () => {
    const other = path.join(tmp.dir, 'known_hosts_changed');
    const fake = sshd.hostPublicKey.split(' ');
    // Same type, different key: the unauthorized client key's public half stands in.
    const strangerPub = fs.readFileSync(`${sshd.unauthorizedKey}.pub`, 'utf8').split(' ');
    fs.writeFileSync(other, `[127.0.0.1]:${sshd.port} ${fake[0]} ${strangerPub[1]}\n`);
    const be = locationBackend(repoDir('changed'), { 'sftp.known-hosts': other });
    const err = (await be.load({ type: 'config', name: '' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toMatch(/differs from .* line 1/);
    await be.close();
  });

  it('accepts any host key only with -o sftp.insecure-host-key=true', async () => {
    const empty = path.join(tmp.dir, 'known_hosts_empty2');
    fs.writeFileSync(empty, '');
    const dir = repoDir('insecure');
    const be = locationBackend(dir, { 'sftp.known-hosts': empty, 'sftp.insecure-host-key': 'true' });
    await be.create();
    expect(await collect(be.list('key'))).toEqual([]);
    await be.close();
    expect(() => locationBackend(dir, { 'sftp.insecure-host-key': 'yes' })).toThrow(UsageError);
  });

  it('matches wildcard and port-less entries as OpenSSH does', async () => {
    const kh = path.join(tmp.dir, 'known_hosts_wild');
    const [type, key] = sshd.hostPublicKey.split(' ');
    // The port-less name does not apply to a non-22 port; the wildcard with brackets does.
    fs.writeFileSync(kh, `127.0.0.1 ${type} ${key}\n`);
    const be = locationBackend(repoDir('wild'), { 'sftp.known-hosts': kh });
    await expect(be.stat({ type: 'config', name: '' })).rejects.toBeInstanceOf(HostKeyError);
    await be.close();
    fs.writeFileSync(kh, `other.example,!127.0.0.2,[127.0.0.?]:* ${type} ${key}\n`);
    const be2 = locationBackend(repoDir('wild'), { 'sftp.known-hosts': kh });
    await expect(be2.stat({ type: 'config', name: '' })).rejects.toBeInstanceOf(NotFoundError);
    await be2.close();
  });

  it('a key the server does not accept: AuthenticationError, one line, not retried', async () => {
    let retries = 0;
    const be = new RetryBackend(
      bare(repoDir('wrongkey'), { privateKeys: [{ key: fs.readFileSync(sshd.unauthorizedKey), source: sshd.unauthorizedKey }] }),
      {
        onRetry: () => retries++,
      },
    );
    const err = (await be.stat({ type: 'config', name: '' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err.message).toBe(
      `SSH authentication failed for root@127.0.0.1:${sshd.port}: the server refused the key (${sshd.unauthorizedKey})`,
    );
    expect(retries).toBe(0);
    await be.close();
  });

  it('an unreachable port fails at once with one line', async () => {
    const { freePort } = await import('../helpers/sshd.js');
    const port = await freePort();
    const be = openLocation(`sftp://root@127.0.0.1:${port}//tmp/x`, {
      env: { HOME: emptyHome },
      sshKeyFile: sshd.clientKey,
      extended: { 'sftp.known-hosts': sshd.knownHosts },
    });
    const err = (await be.stat({ type: 'config', name: '' }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`cannot connect to root@127.0.0.1:${port}: connection refused`);
    await be.close();
  });

  it('an encrypted key needs SSH_KEY_PASSPHRASE', async () => {
    const { spawnSync } = await import('node:child_process');
    const key = path.join(tmp.dir, 'enc_ed25519');
    fs.copyFileSync(sshd.clientKey, key);
    fs.chmodSync(key, 0o600);
    const r = spawnSync('ssh-keygen', ['-p', '-q', '-P', '', '-N', 'sesame', '-f', key], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const be = openLocation(`sftp://root@127.0.0.1:${sshd.port}//${repoDir('enc')}`, {
      env: { HOME: emptyHome },
      sshKeyFile: key,
      extended: { 'sftp.known-hosts': sshd.knownHosts },
    });
    await expect(be.stat({ type: 'config', name: '' })).rejects.toThrow(`SSH private key ${key} is encrypted: set SSH_KEY_PASSPHRASE`);
    await be.close();
    const dir = repoDir('enc');
    const be2 = openLocation(`sftp://root@127.0.0.1:${sshd.port}/${dir}`, {
      env: { HOME: emptyHome, SSH_KEY_PASSPHRASE: 'sesame' },
      sshKeyFile: key,
      extended: { 'sftp.known-hosts': sshd.knownHosts },
    });
    await be2.create();
    expect(fs.existsSync(path.join(dir, 'data', 'ff'))).toBe(true);
    await be2.close();
  });
});

describe('layout and writes on the server', () => {
  it('a relative path resolves in the session start directory; RSA key; hashed known_hosts', async () => {
    const rel = `rel-${++seq}/repo`;
    const be = bare(rel, {
      privateKeys: [{ key: fs.readFileSync(sshd.clientKeyRsa), source: sshd.clientKeyRsa }],
      knownHostsFile: sshd.knownHostsHashed,
    });
    await be.create();
    const f = randomFile(300_000);
    await be.save({ type: 'pack', name: f.name }, f.data);
    await be.save({ type: 'index', name: f.name }, f.data);
    expectBytes(fs.readFileSync(path.join(sshd.home, rel, 'data', f.name.slice(0, 2), f.name)), f.data);
    expectBytes(await be.load({ type: 'index', name: f.name }, 1000, 200_000), f.data.subarray(1000, 201_000));
    expect(await collect(be.list('pack'))).toEqual([{ name: f.name, size: f.data.length }]);
    await be.close();
  });

  it('create makes restic directories including data/00..ff; saves go through a temp name', async () => {
    const dir = repoDir('layout');
    const be = bare(dir);
    await be.create();
    const data = fs.readdirSync(path.join(dir, 'data')).sort();
    expect(data.length).toBe(256);
    expect(data[0]).toBe('00');
    expect(data[255]).toBe('ff');
    for (const d of ['index', 'keys', 'locks', 'snapshots']) expect(fs.statSync(path.join(dir, d)).isDirectory()).toBe(true);
    const f = randomFile(1000);
    await be.save({ type: 'pack', name: f.name }, f.data);
    const file = path.join(dir, 'data', f.name.slice(0, 2), f.name);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // Overwrite in place (posix-rename) and no temp files left.
    await be.save({ type: 'pack', name: f.name }, f.data);
    expect(fs.readdirSync(path.dirname(file))).toEqual([f.name]);
    await be.create(); // no config yet: creating again is harmless
    await be.save({ type: 'config', name: '' }, new Uint8Array(3));
    await expect(be.create()).rejects.toThrow(/config file already exists/);
    await be.close();
  });
});

/** SFTP channels ("subsystem 'sftp'" sessions) the server started since `from` lines of its log. */
function sftpSessions(server: Sshd, from: number): number {
  const lines = fs
    .readFileSync(path.join(path.dirname(server.home), 'sshd.log'), 'utf8')
    .split('\n')
    .slice(from);
  return lines.filter((l) => l.includes("subsystem 'sftp'")).length;
}
const logLines = (server: Sshd) => fs.readFileSync(path.join(path.dirname(server.home), 'sshd.log'), 'utf8').split('\n').length - 1;

describe('pack reads over channels of their own', () => {
  it('loads packs over four more SFTP channels of the one connection, bytes intact', async () => {
    const dir = repoDir('bulk');
    const be = bare(dir);
    await be.create();
    const files = Array.from({ length: 8 }, (_, i) => randomFile(300_000 + i));
    await Promise.all(files.map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
    const before = logLines(sshd);
    const loaded = await Promise.all(files.map((f) => be.load({ type: 'pack', name: f.name })));
    loaded.forEach((b, i) => expectBytes(b, files[i]!.data));
    const part = await be.load({ type: 'pack', name: files[3]!.name }, 1000, 5000);
    expectBytes(part, files[3]!.data.subarray(1000, 6000));
    await be.close();
    await new Promise((r) => setTimeout(r, 200)); // sshd writes its log lines as it starts them
    expect(sftpSessions(sshd, before)).toBe(4);
    cleanup(be);
  });

  it('a server that allows one session per connection: packs load over the main channel', async () => {
    const one = await startSshd({ extraConfig: ['MaxSessions 1'] });
    try {
      const be = new SftpBackend({
        host: '127.0.0.1',
        port: one.port,
        user: 'root',
        path: path.join(one.home, 'repo'),
        privateKeys: [{ key: fs.readFileSync(one.clientKey), source: one.clientKey }],
        knownHostsFile: one.knownHosts,
      });
      await be.create();
      const files = Array.from({ length: 4 }, (_, i) => randomFile(200_000 + i));
      await Promise.all(files.map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
      const loaded = await Promise.all(files.map((f) => be.load({ type: 'pack', name: f.name })));
      loaded.forEach((b, i) => expectBytes(b, files[i]!.data));
      await be.close();
    } finally {
      await one.stop();
    }
  }, 60_000);
});

describe('dropped connections', () => {
  it('reconnects when every session is killed between and during operations', async () => {
    const dir = repoDir('drop');
    const be = locationBackend(dir);
    await be.create();
    const files = Array.from({ length: 40 }, (_, i) => randomFile(20_000 + i));
    await Promise.all(files.slice(0, 10).map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
    expect(sshd.dropConnections()).toBeGreaterThan(0);
    // The next operations find the link gone and reconnect.
    await Promise.all(files.slice(10, 20).map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
    // Drop while saves are in flight.
    const inflight = Promise.all(files.slice(20).map((f) => be.save({ type: 'pack', name: f.name }, f.data)));
    await new Promise((r) => setTimeout(r, 5));
    sshd.dropConnections();
    await inflight;
    const listed = await collect(be.list('pack'));
    expect(listed.map((x) => x.name).sort()).toEqual(files.map((f) => f.name).sort());
    for (const f of files) expectBytes(await be.load({ type: 'pack', name: f.name }), f.data);
    // No temp files are listed and none remain complete under a final name.
    await be.close();
  });
});
